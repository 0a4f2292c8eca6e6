/**
 * The event lines of one process kept for readers that attach later: the start line, the most
 * recent output lines up to a byte limit (oldest dropped first, and counted), the exit line.
 */
export class EventHistory {
  start = "";
  exit = "";
  droppedBytes = 0;
  private output: string[] = [];
  private head = 0;
  private bytes = 0;

  constructor(private readonly limitBytes: number) {}

  pushOutput(line: string): void {
    this.output.push(line);
    this.bytes += line.length;
    while (this.bytes > this.limitBytes && this.head < this.output.length - 1) {
      const dropped = this.output[this.head]!;
      this.bytes -= dropped.length;
      this.droppedBytes += dropped.length;
      this.head++;
    }
    // Compact now and then so dropped lines are freed.
    if (this.head > 1024 && this.head * 2 > this.output.length) {
      this.output = this.output.slice(this.head);
      this.head = 0;
    }
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
