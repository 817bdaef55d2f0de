import { Hono } from "hono";
import { forward } from "../../src/http/proxy";

const app = new Hono<{ Bindings: { ORIGIN_URL: string } }>();
app.all("*", (c) => forward(c.req.raw, new URL(c.env.ORIGIN_URL)));
export default app;
