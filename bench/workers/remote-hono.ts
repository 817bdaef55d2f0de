/** Benchmark helper: the peer (hono-store.ts), calling its objects in another workerd through the gateway. */
import app, { type HonoEnv } from "./hono-store";
import { remoteObjects } from "./remote";

export default remoteObjects<HonoEnv>(app, ["HRL"]);
