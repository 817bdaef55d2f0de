/** The limiter's version, reported by `GET /_limiter/health`; kept equal to package.json's (a test checks). */
export const VERSION = "0.1.0";
