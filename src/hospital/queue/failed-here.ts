/**
 * The messages of a durable queue that failed in this process, kept by a sender node (mllp-out,
 * fhir-document) so that Catch hears a message's first failure here once, not once per attempt, and
 * the status can count the messages failing now. Bounded by the queue: a message leaves when it
 * settles, and one discarded through the admin endpoint (which never settles) is forgotten the next
 * time a message fails for the first time.
 */
export class FailedHere {
  private readonly seqs = new Set<number>();

  /** Messages failing now. */
  get size(): number {
    return this.seqs.size;
  }

  /**
   * Records a failed attempt of the message `seq`; true when it is the message's first in this
   * process. `live` gives the messages the queue still holds (read only on a first failure).
   */
  failed(seq: number, live: () => Iterable<{ seq: number }> | undefined): boolean {
    if (this.seqs.has(seq)) return false;
    const queued = new Set<number>();
    for (const item of live() ?? []) queued.add(item.seq);
    for (const s of this.seqs) if (!queued.has(s)) this.seqs.delete(s);
    this.seqs.add(seq);
    return true;
  }

  /** The message ended (delivered or rejected): it is failing no more. */
  settled(seq: number): void {
    this.seqs.delete(seq);
  }
}
