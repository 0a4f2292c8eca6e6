export * from "./codes.js";
export * from "./constants.js";
export * from "./errors.js";
export * from "./sandbox.js";
export * from "./image.js";
export * from "./health.js";
export * from "./processes.js";
export * from "./files.js";
