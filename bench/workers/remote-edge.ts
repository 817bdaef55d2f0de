/**
 * Benchmark helper: the limiter's edge Worker, unchanged, leasing from
 * TenantBuckets in another workerd process through bench/workers/do-gateway.ts.
 */
import worker from "../../src/worker";
import { remoteObjects } from "./remote";

export default remoteObjects<Env>(worker, ["TENANT_BUCKET"]);
