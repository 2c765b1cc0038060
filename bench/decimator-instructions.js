// Counts the decimator's instructions, which stay the same under load where CPU time does not:
//   npm run build
//   valgrind --tool=callgrind --smc-check=all-non-file node bench/decimator-instructions.js simd 20
//   valgrind --tool=callgrind --smc-check=all-non-file node bench/decimator-instructions.js simd 60
// (and the same with js). The difference between the two lengths, divided by 40, is the instructions per
// second of audio, start-up and compilation cancelled out. Decimates 48 kHz stereo to 16 kHz mono in
// 100 ms chunks through dist/, with the WebAssembly SIMD filter (simd) or the JavaScript one (js).
const { Decimator } = require("../dist/src/audio/decimator.js");

const [engine, seconds] = [process.argv[2], Number(process.argv[3])];
const chunk = Int16Array.from({ length: 9600 }, (_, i) =>
  Math.round(8000 * Math.sin(i * 0.01) + 3000 * Math.sin(i * 0.37)),
);
const decimator = new Decimator(3, 2, 1, { simd: engine === "simd" });
let samples = 0;
for (let i = 0; i < seconds * 10; i++) samples += decimator.process(chunk).length;
console.log(`${decimator.engine}: ${samples} samples out`);
