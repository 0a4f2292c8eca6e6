import { describe, expect, it } from "vitest";
import { EventBus, type EventInput, type LifecycleEvent } from "../src/events/event-bus.js";

const input = (sandboxId: string, type: EventInput["type"] = "created"): EventInput => ({
  type,
  sandboxId,
  runtime: "runc",
  owner: "alice",
  reason: null,
});

describe("EventBus", () => {
  it("numbers events from 1 and stamps them with the clock's time", () => {
    const bus = new EventBus(10, () => Date.UTC(2026, 0, 2, 3, 4, 5));
    expect(bus.emit(input("sb_a"))).toMatchObject({ seq: 1, time: "2026-01-02T03:04:05.000Z" });
    expect(bus.emit(input("sb_b")).seq).toBe(2);
  });

  it("replays the kept events after a seq, then goes on live; unsubscribing stops it", () => {
    const bus = new EventBus(3);
    for (const id of ["sb_1", "sb_2", "sb_3", "sb_4"]) bus.emit(input(id));
    const seen: number[] = [];
    const stop = bus.subscribe((e) => seen.push(e.seq), 0);
    // Only 3 are kept: seq 1 is gone.
    expect(seen).toEqual([2, 3, 4]);
    bus.emit(input("sb_5"));
    stop();
    bus.emit(input("sb_6"));
    expect(seen).toEqual([2, 3, 4, 5]);
    const later: number[] = [];
    bus.subscribe((e) => later.push(e.seq), 4);
    expect(later).toEqual([5, 6]);
  });

  it("a listener that throws does not stop the others", () => {
    const bus = new EventBus();
    const seen: LifecycleEvent[] = [];
    bus.subscribe(() => {
      throw new Error("broken listener");
    });
    bus.subscribe((e) => seen.push(e));
    bus.emit(input("sb_a", "failed"));
    expect(seen).toHaveLength(1);
  });

  it("the public view leaves out the owner and the create time", () => {
    const bus = new EventBus();
    const event = bus.emit({ ...input("sb_a"), createMs: 120 });
    expect(EventBus.toPublic(event)).toEqual({
      seq: 1,
      type: "created",
      sandboxId: "sb_a",
      runtime: "runc",
      time: event.time,
      reason: null,
    });
  });
});
