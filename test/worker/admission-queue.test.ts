import { describe, expect, it } from 'vitest';
import { AdmissionQueue, QUEUE_POLL_MS, type QueuedRequest } from '../../src/worker/admission-queue.js';

/** A queued request admitted when `free()` says a slot is free; records how it left. */
function waiter(name: string, log: string[], free: () => boolean): QueuedRequest {
  return {
    retryAdmission: () => {
      if (!free()) return false;
      log.push(`admitted ${name}`);
      return true;
    },
    queueTimedOut: () => { log.push(`timed out ${name}`); },
  };
}

describe('AdmissionQueue', () => {
  it('offer_refuses_whenTheQueueIsFull', () => {
    const q = new AdmissionQueue(2, 1000);
    const log: string[] = [];
    expect(q.offer(waiter('a', log, () => false), 0)).toBe(true);
    expect(q.offer(waiter('b', log, () => false), 0)).toBe(true);
    expect(q.offer(waiter('c', log, () => false), 0)).toBe(false);
    expect(q.size).toBe(2);
    q.drain(10_000); // time everyone out so no timer outlives the test
  });

  it('drain_admitsInOrder_andStopsAtTheFirstThatCannotBeAdmitted', () => {
    const q = new AdmissionQueue(10, 1000);
    const log: string[] = [];
    let slots = 2;
    const take = () => (slots > 0 ? (slots--, true) : false);
    for (const n of ['a', 'b', 'c', 'd']) q.offer(waiter(n, log, take), 0);
    q.drain(1);
    expect(log).toEqual(['admitted a', 'admitted b']);
    expect(q.size).toBe(2);
    slots = 1;
    q.drain(2);
    expect(log).toEqual(['admitted a', 'admitted b', 'admitted c']);
    q.drain(5000);
    expect(log.at(-1)).toBe('timed out d');
    expect(q.size).toBe(0);
  });

  it('drain_timesOutOnlyThoseWhoseWaitIsOver', () => {
    const q = new AdmissionQueue(10, 100);
    const log: string[] = [];
    q.offer(waiter('early', log, () => false), 0);
    q.offer(waiter('late', log, () => false), 50);
    q.drain(100);
    expect(log).toEqual(['timed out early']);
    q.drain(150);
    expect(log).toEqual(['timed out early', 'timed out late']);
  });

  it('remove_takesAWaiterOutOfLine_soTheNextOneIsAdmitted', () => {
    const q = new AdmissionQueue(2, 1000);
    const log: string[] = [];
    const a = waiter('a', log, () => true);
    q.offer(a, 0);
    q.offer(waiter('b', log, () => true), 0);
    q.remove(a);
    expect(q.offer(waiter('c', log, () => true), 0)).toBe(true);
    q.drain(1);
    expect(log).toEqual(['admitted b', 'admitted c']);
  });

  it('aNonEmptyQueue_pollsByItself_forSlotsFreedElsewhere', async () => {
    const q = new AdmissionQueue(5, 10_000);
    const log: string[] = [];
    let free = false;
    q.offer(waiter('a', log, () => free), performance.now());
    await new Promise((r) => setTimeout(r, QUEUE_POLL_MS * 4));
    expect(log).toEqual([]);
    free = true; // as if another worker released a slot: nothing calls drain here
    const until = Date.now() + 5000;
    while (log.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, QUEUE_POLL_MS));
    expect(log).toEqual(['admitted a']);
    expect(q.size).toBe(0);
  });

  it('drain_foldsReentrantCalls_intoTheRunningOne', () => {
    const q = new AdmissionQueue(5, 1000);
    const log: string[] = [];
    // An admitted request that fails at once releases its slot, which drains again.
    const reentrant: QueuedRequest = {
      retryAdmission: () => { log.push('admitted a'); q.drain(1); return true; },
      queueTimedOut: () => { log.push('timed out a'); },
    };
    q.offer(reentrant, 0);
    q.offer(waiter('b', log, () => true), 0);
    q.drain(1);
    expect(log).toEqual(['admitted a', 'admitted b']);
  });
});
