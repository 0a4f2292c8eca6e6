import { describe, expect, it } from "vitest";
import { EventHistory, HistoryBudget } from "../src/processes/event-history.js";

const line = (n: number, size = 100) => `${String(n).padStart(size - 1, "x")}\n`;
const kept = (h: EventHistory) => [...h.replay()].filter((l) => !l.includes("truncated"));

describe("event history", () => {
  it("keeps the newest lines within its own cap and counts what it dropped", () => {
    const h = new EventHistory(300);
    for (let i = 0; i < 10; i++) h.pushOutput(line(i));
    expect(kept(h)).toEqual([line(7), line(8), line(9)]);
    expect(h.droppedBytes).toBe(700);
    expect([...h.replay()][0]).toContain('"droppedBytes":700');
  });

  it("frees a dropped line at once, not at a later compaction", () => {
    const h = new EventHistory(100);
    for (let i = 0; i < 50; i++) h.pushOutput(line(i));
    const slots = (h as unknown as { output: (string | undefined)[] }).output;
    expect(slots.filter((s) => s !== undefined)).toHaveLength(1);
  });
});

describe("history budget", () => {
  it("bounds all histories together: ended processes lose their output first", () => {
    const budget = new HistoryBudget(1000);
    const ended = new EventHistory(1000, budget);
    for (let i = 0; i < 6; i++) ended.pushOutput(line(i));
    ended.exit = '{"type":"exit"}\n';
    const running = new EventHistory(1000, budget);
    for (let i = 0; i < 6; i++) running.pushOutput(line(i));
    expect(budget.usedBytes).toBeLessThanOrEqual(1000);
    expect(running.keptBytes).toBe(600);
    expect(ended.keptBytes).toBe(400);
  });

  it("past what ended ones hold, the largest running history gives way", () => {
    const budget = new HistoryBudget(1000);
    const big = new EventHistory(1000, budget);
    for (let i = 0; i < 9; i++) big.pushOutput(line(i));
    const small = new EventHistory(1000, budget);
    for (let i = 0; i < 3; i++) small.pushOutput(line(i));
    expect(budget.usedBytes).toBeLessThanOrEqual(1000);
    expect(small.keptBytes).toBe(300);
    expect(big.keptBytes).toBe(700);
  });

  it("gives a retired history's bytes back", () => {
    const budget = new HistoryBudget(1000);
    const h = new EventHistory(1000, budget);
    for (let i = 0; i < 5; i++) h.pushOutput(line(i));
    expect(budget.usedBytes).toBe(500);
    budget.release(h);
    expect(budget.usedBytes).toBe(0);
    expect(h.keptBytes).toBe(0);
  });
});
