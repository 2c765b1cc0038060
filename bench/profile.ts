// Summarises saved V8 profiles as top frames grouped by where the code lives (ours, Node-RED, the
// provider SDKs, Node core, GC):
//   npx tsx bench/profile.ts bench-profiles/aws-node-red-100.cpuprofile bench-profiles/aws-node-red-100.heapprofile
//   npx tsx bench/profile.ts --chunks 20000 <file.heapprofile>   (also the bytes allocated per audio chunk)
//   npx tsx bench/profile.ts --top 40 --group ours <files>   (the 40 top frames of our own code)
// `npm run bench:profile` takes the profiles (bench/pipeline.ts --profile) and prints the same summary.
import { readFileSync } from "node:fs";
import { formatSummary, summariseCpu, summariseHeap, type Group } from "./support/profile";

const args = process.argv.slice(2);
const option = (name: string): number | undefined => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const [value] = args.splice(i, 2).slice(1);
  return Number(value);
};
const chunks = option("chunks");
const top = option("top") ?? 25;
// --group ours: the top frames of one group only (ours, node-red, sdk, node core, ...).
const groupAt = args.indexOf("--group");
const only = groupAt >= 0 ? (args.splice(groupAt, 2)[1] as Group) : undefined;
if (args.length === 0) {
  console.error("usage: tsx bench/profile.ts [--chunks N] [--top N] <file.cpuprofile | file.heapprofile>...");
  process.exit(2);
}
for (const file of args) {
  const profile: unknown = JSON.parse(readFileSync(file, "utf8"));
  if (file.endsWith(".heapprofile")) {
    const s = summariseHeap(profile as Parameters<typeof summariseHeap>[0], top, only);
    const perChunk = chunks ? `, ${(s.amount / chunks / 1024).toFixed(1)} KiB per audio chunk` : "";
    console.log(formatSummary(file, s, `${(s.amount / 2 ** 20).toFixed(1)} MiB allocated${perChunk}`));
  } else {
    const s = summariseCpu(profile as Parameters<typeof summariseCpu>[0], top, only);
    console.log(formatSummary(file, s, `${(s.amount / 1000).toFixed(1)} s of non-idle samples (wall time)`));
  }
  console.log("");
}
