/**
 * The bytes of output history all processes of a sandbox may keep together. Each history is
 * also capped on its own; past the shared cap, ended processes lose their output first (oldest
 * first), then the largest running history its oldest lines. So the agent's memory stays
 * bounded in bytes whatever the output volume and however many processes ran.
 */
export class HistoryBudget {
  private bytes = 0;
  /** In the order they were made: the oldest ended history is the first ended one found. */
  private readonly members = new Set<EventHistory>();

  constructor(readonly limitBytes: number) {}

  get usedBytes(): number {
    return this.bytes;
  }

  add(history: EventHistory): void {
    this.members.add(history);
  }

  /** Forgets a history (its process was retired) and the bytes it held. */
  release(history: EventHistory): void {
    if (!this.members.delete(history)) return;
    this.bytes -= history.keptBytes;
    history.clear();
  }

  /** @internal called by EventHistory as its kept bytes change. */
  charge(delta: number): void {
    this.bytes += delta;
    while (this.bytes > this.limitBytes && this.reclaimOne()) {
      // each pass frees at least one line
    }
  }

  private reclaimOne(): boolean {
    let largest: EventHistory | undefined;
    for (const h of this.members) {
      if (h.keptBytes === 0) continue;
      if (h.ended) return h.dropOldest();
      if (!largest || h.keptBytes > largest.keptBytes) largest = h;
    }
    return largest?.dropOldest() ?? false;
  }
}

/**
 * The event lines of one process kept for readers that attach later: the start line, the most
 * recent output lines up to a byte limit (oldest dropped first, and counted), the exit line.
 */
export class EventHistory {
  start = "";
  exit = "";
  droppedBytes = 0;
  private output: (string | undefined)[] = [];
  private head = 0;
  private bytes = 0;

  constructor(
    private readonly limitBytes: number,
    private readonly budget?: HistoryBudget,
  ) {
    budget?.add(this);
  }

  get keptBytes(): number {
    return this.bytes;
  }

  get ended(): boolean {
    return this.exit !== "";
  }

  pushOutput(line: string): void {
    this.output.push(line);
    this.bytes += line.length;
    this.budget?.charge(line.length);
    while (this.bytes > this.limitBytes && this.dropOldest()) {
      // drop until within this history's own cap
    }
  }

  /** Drops the oldest kept line; false when none is left. */
  dropOldest(): boolean {
    if (this.head >= this.output.length) return false;
    const dropped = this.output[this.head]!;
    // Freed now, not at the next compaction: a dropped line must not hold memory.
    this.output[this.head] = undefined;
    this.head++;
    this.bytes -= dropped.length;
    this.droppedBytes += dropped.length;
    this.budget?.charge(-dropped.length);
    if (this.head > 1024 && this.head * 2 > this.output.length) {
      this.output = this.output.slice(this.head);
      this.head = 0;
    }
    return true;
  }

  /** Forgets every kept line (the budget has already been given their bytes back). */
  clear(): void {
    this.output = [];
    this.head = 0;
    this.bytes = 0;
  }

  /** Every kept line in order, with a `truncated` line where output was dropped. */
  *replay(): Generator<string> {
    if (this.start) yield this.start;
    if (this.droppedBytes > 0)
      yield `${JSON.stringify({ type: "truncated", droppedBytes: this.droppedBytes })}\n`;
    for (let i = this.head; i < this.output.length; i++) yield this.output[i]!;
    if (this.exit) yield this.exit;
  }
}
