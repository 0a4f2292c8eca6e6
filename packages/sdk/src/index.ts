export { Sandbox, type CreateSandboxOptions, type ListSandboxesOptions } from "./sandbox.js";
export { Images, type ImageBuildOptions, type PullProgress } from "./images.js";
export { Registries } from "./registries.js";
export { SandboxNetworking } from "./network.js";
export { Keys } from "./keys.js";
export { WarmPools } from "./warm-pools.js";
export { Snapshots } from "./snapshots.js";
export { Events, type EventsOptions, type EventStreamOptions } from "./events.js";
export { Processes, type ExecOptions, type CodeLanguage } from "./processes.js";
export { SandboxProcess, type StdinData } from "./sandbox-process.js";
export {
  CodeInterpreter,
  type CodeContextOptions,
  type CodeRunOptions,
  type CodeRunResult,
} from "./code.js";
export { OutputStream } from "./output-stream.js";
export {
  Pty,
  Terminal,
  type TerminalCreateOptions,
  type TerminalConnectOptions,
} from "./terminal.js";
export {
  Filesystem,
  type UploadOptions,
  type TransferOptions,
  type BatchUpload,
} from "./filesystem.js";
export { DirectoryWatch, type WatchOptions, type WatchedEvent } from "./watch.js";
export type { UploadSource } from "./sources.js";
export { Docker, ComposeStack, parseJsonLines, type ComposeUpOptions } from "./docker.js";
export {
  resolveClientOptions,
  DEFAULT_URL,
  DEFAULT_TOKEN_FILE,
  type ClientOptions,
} from "./config.js";
export * from "./errors.js";
export type {
  SandboxInfo,
  ImageInfo,
  SandboxState,
  RuntimeName,
  CreateSandboxRequest,
  ProcessExit,
  ProcessInfo,
  TerminalSize,
  FileEntry,
  BatchResult,
  FindMatch,
  ExposedPort,
  CommandOutput,
  DockerLoadRefResult,
  KeyInfo,
  CodeContext,
  CodeContextLanguage,
  CodeError,
  EgressMode,
  NetworkPolicyInput,
  SandboxNetwork,
  WarmPoolInfo,
  SnapshotInfo,
  CreateSnapshotRequest,
  WarmPoolSpecInput,
  SandboxMetrics,
  SandboxEvent,
  SandboxEventType,
} from "@paddock/protocol";
