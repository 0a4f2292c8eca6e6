import { EVENT_HISTORY_SIZE, type SandboxEvent } from "@paddock/protocol";

/** An event as the daemon keeps it: the public event, its sandbox's owner, and for metrics how long a create took. */
export interface LifecycleEvent extends SandboxEvent {
  /** The API key that owns the sandbox; null for the admin's. Never sent. */
  owner: string | null;
  /** `created` only: milliseconds from the create request to a running sandbox. */
  createMs?: number;
}

export type EventInput = Omit<LifecycleEvent, "seq" | "time">;
type Listener = (event: LifecycleEvent) => void;

/**
 * The one place sandbox lifecycle events go through: the sandbox service emits, the events
 * route and the Prometheus counters listen. Keeps the last `historySize` events so a client
 * that reconnects with `Last-Event-ID` misses nothing in between.
 */
export class EventBus {
  private seq = 0;
  private readonly history: LifecycleEvent[] = [];
  private readonly listeners = new Set<Listener>();

  constructor(
    private readonly historySize = EVENT_HISTORY_SIZE,
    private readonly now: () => number = Date.now,
  ) {}

  emit(input: EventInput): LifecycleEvent {
    const event: LifecycleEvent = {
      ...input,
      seq: ++this.seq,
      time: new Date(this.now()).toISOString(),
    };
    this.history.push(event);
    if (this.history.length > this.historySize) this.history.shift();
    // A listener's failure is its own: the sandbox's state has already changed.
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // Listeners log their own errors.
      }
    }
    return event;
  }

  /**
   * Calls `listener` with every event after `afterSeq` that is still kept (none when
   * undefined), then with each new one, until the returned function is called.
   */
  subscribe(listener: Listener, afterSeq?: number): () => void {
    if (afterSeq !== undefined) {
      for (const event of this.history) if (event.seq > afterSeq) listener(event);
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The public view: who owns the sandbox and how long it took stay with the daemon. */
  static toPublic(event: LifecycleEvent): SandboxEvent {
    const { owner: _owner, createMs: _createMs, ...info } = event;
    return info;
  }
}
