import { describe, expect, it } from "vitest";
import { parseLdd } from "../src/agent/runtime-dir.js";

const LDD = [
  "\tlinux-vdso.so.1 (0x00007ffd3c5f2000)",
  "\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f1c4a2e1000)",
  "\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f1c4a000000)",
  "\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f1c49f21000)",
  "\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f1c49f01000)",
  "\tlibpthread.so.0 => /lib/x86_64-linux-gnu/libpthread.so.0 (0x00007f1c49efc000)",
  "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f1c49d1b000)",
  "\t/lib64/ld-linux-x86-64.so.2 (0x00007f1c4a2ee000)",
  "",
].join("\n");

describe("parseLdd", () => {
  it("finds the loader and every library, skipping the vdso", () => {
    const { loader, libs } = parseLdd(LDD);
    expect(loader).toBe("/lib64/ld-linux-x86-64.so.2");
    expect(libs).toEqual([
      "/lib/x86_64-linux-gnu/libdl.so.2",
      "/lib/x86_64-linux-gnu/libstdc++.so.6",
      "/lib/x86_64-linux-gnu/libm.so.6",
      "/lib/x86_64-linux-gnu/libgcc_s.so.1",
      "/lib/x86_64-linux-gnu/libpthread.so.0",
      "/lib/x86_64-linux-gnu/libc.so.6",
    ]);
    expect(libs.some((l) => l.includes("vdso"))).toBe(false);
    expect(libs).not.toContain(loader);
  });

  it("throws when no loader is named", () => {
    const withoutLoader = LDD.split("\n")
      .filter((l) => !l.includes("ld-linux"))
      .join("\n");
    expect(() => parseLdd(withoutLoader)).toThrow(/loader/);
  });

  it("ignores a 'not found' library line", () => {
    const { libs } = parseLdd(`\tlibfoo.so.1 => not found\n${LDD}`);
    expect(libs).toHaveLength(6);
  });
});
