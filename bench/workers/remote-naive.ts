/** Benchmark helper: the naive limiter (naive.ts), calling its objects in another workerd through the gateway. */
import naive from "./naive";
import { remoteObjects } from "./remote";

export default remoteObjects(naive, ["NAIVE"]);
