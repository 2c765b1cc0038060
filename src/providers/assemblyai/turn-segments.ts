/**
 * The segment key of each Turn on one connection.
 *
 * The service sends exactly one final per turn_order, and turn_order only grows (research/assemblyai.md
 * §2.3–2.4). A peer that breaks this (a final repeated, turn_order going back) would otherwise hand a
 * later Turn the segment id of a final already delivered, and whatever collects finals by segment id
 * (transcript-document: "a later final replaces the earlier one") would drop the earlier final's words
 * without a trace. So a Turn whose turn_order already had its final gets a segment of its own; its
 * partials and its final share it, and the session's deduplication leaves out the words already
 * delivered.
 */
export class TurnSegments {
  private highestFinal = -1;
  /** Reissued turn_orders whose final has not come yet → their suffix. */
  private readonly reissued = new Map<number, number>();
  private suffix = 0;

  /** A connection's turn_order starts again at 0. */
  reset(): void {
    this.highestFinal = -1;
    this.reissued.clear();
  }

  /** The key of a Turn with `order`; `final` when it ends the turn. */
  key(order: number, final: boolean): string {
    let suffix = this.reissued.get(order);
    if (suffix === undefined && order <= this.highestFinal) {
      suffix = ++this.suffix;
      // Bounded: a peer opening endless reissued turns without finals keeps at most 64 of them open.
      if (this.reissued.size >= 64) this.reissued.delete(this.reissued.keys().next().value as number);
      this.reissued.set(order, suffix);
    }
    if (suffix === undefined) {
      if (final) this.highestFinal = order;
      return String(order);
    }
    if (final) this.reissued.delete(order);
    return `${order}.${suffix}`;
  }
}
