const NEWLINE = 0x0a;

/**
 * Splits one pipe of a code context's interpreter into the code's output and the driver's
 * markers: `token` + payload + `\n`. Output goes on as it comes, except a trailing piece that
 * could be the start of the token, which waits for the next chunk; a marker's payload is
 * collected whole. The token starts with a NUL and carries 128 random bits, so output does not
 * contain it by accident.
 */
export class MarkerScanner {
  private held: Buffer | undefined;
  private payload: Buffer[] | undefined;

  constructor(
    private readonly token: Buffer,
    private readonly onOutput: (data: Buffer) => void,
    private readonly onMarker: (payload: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    let buf = this.held ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = undefined;
    while (buf.length > 0) {
      if (this.payload) {
        const nl = buf.indexOf(NEWLINE);
        this.payload.push(buf.subarray(0, nl < 0 ? buf.length : nl));
        if (nl < 0) return;
        const payload = Buffer.concat(this.payload);
        this.payload = undefined;
        this.onMarker(payload);
        buf = buf.subarray(nl + 1);
        continue;
      }
      const at = buf.indexOf(this.token);
      if (at >= 0) {
        if (at > 0) this.onOutput(buf.subarray(0, at));
        this.payload = [];
        buf = buf.subarray(at + this.token.length);
        continue;
      }
      const keep = this.tokenStartAtEnd(buf);
      if (keep < buf.length) this.onOutput(buf.subarray(0, buf.length - keep));
      if (keep > 0) this.held = Buffer.from(buf.subarray(buf.length - keep));
      return;
    }
  }

  /** Passes on what was held back (the pipe ended, so no marker can follow). */
  flush(): void {
    if (this.held) this.onOutput(this.held);
    this.held = undefined;
    this.payload = undefined;
  }

  /** The length of the longest end of `buf` that is a start of the token. */
  private tokenStartAtEnd(buf: Buffer): number {
    const from = Math.max(0, buf.length - this.token.length + 1);
    for (
      let i = buf.indexOf(this.token[0]!, from);
      i >= 0;
      i = buf.indexOf(this.token[0]!, i + 1)
    ) {
      if (this.token.subarray(0, buf.length - i).equals(buf.subarray(i))) return buf.length - i;
    }
    return 0;
  }
}
