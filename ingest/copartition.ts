/**
 * Co-partitioned assignment: the three input topics are keyed by asset with the same partitioner and the
 * same partition count, so partition p of each holds the same assets. A member gets partition p of every
 * topic, like the inputs of a Kafka Streams join; partition numbers are dealt to the sorted members in
 * turn. Pure, so every member that leads a rebalance computes the same plan.
 */
export function coPartition(
  memberIds: string[],
  partitionsByTopic: Record<string, number[]>,
): Record<string, Record<string, number[]>> {
  const members = [...memberIds].sort();
  const numbers = [...new Set(Object.values(partitionsByTopic).flat())].sort((a, b) => a - b);
  const out: Record<string, Record<string, number[]>> = {};
  for (const m of members) out[m] = {};
  numbers.forEach((p, i) => {
    const m = members[i % members.length];
    for (const [topic, parts] of Object.entries(partitionsByTopic)) {
      if (!parts.includes(p)) continue;
      (out[m][topic] ??= []).push(p);
    }
  });
  return out;
}
