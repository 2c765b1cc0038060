import fc from "fast-check";
import { behaviourTag, FHIR_BEHAVIOURS, MLLP_BEHAVIOURS } from "../support/hostile-peers";

/**
 * What the fuzz suite sends: messages of the two contracts (and documents, HL7, control messages)
 * whose values are hostile, and arbitrary anything. Markers planted in every identifier, name,
 * transcript word and credential let the suite find them wherever they leak.
 */

/** Planted in identifiers (session ids, paths, patient and encounter fields), names and transcript words. */
export const PHI = "Zzphimarker";
/** Planted in credentials (AWS secret key and session token, AssemblyAI key, FHIR bearer token). */
export const SECRET = "ZZsecretmarker4711";

/** Lower-case forms searched for, so that a marker changed in case still counts. */
export const PHI_NEEDLE = "zzphimark";
export const SECRET_NEEDLE = "zzsecretmark";

/** The session ids most messages use, so that sessions live long enough to meet later messages. */
export const SESSION_POOL = [
  `enc-${PHI}-1`,
  `enc-${PHI}-2`,
  `MRN${PHI}3`,
  `${PHI} 4 with spaces`,
  `${PHI}/../5`,
  `${PHI}-\u00e9\u{1f600}-6`,
];

const HOSTILE_KEYS = ["__proto__", "constructor", "toString", "valueOf", "hasOwnProperty", "prototype"];

export const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(
    Number.NaN,
    Infinity,
    -Infinity,
    -0,
    0,
    1e308,
    -1e308,
    5e-324,
    Number.MAX_SAFE_INTEGER + 2,
    2 ** 31,
    2 ** 32,
    -1,
    31536000,
    31536001,
    1e21,
  ),
  fc.double(),
  fc.integer(),
);

/** Strings that break naive code: control and bidi characters, lone surrogates, table keys, JSON. */
export const oddString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.constantFrom(
    ...HOSTILE_KEYS,
    "",
    " ",
    "\u0000",
    "a\u0000b",
    "\ud800",
    "\udfff\ud800",
    "\u202e\u2066rtl",
    "\u{1f600}".repeat(20),
    "\r\n\t",
    "|^~\\&",
    "\u000b\u001c\r",
    '{"__proto__":{"polluted":true}}',
    "${jndi:ldap://x}",
    "%s%n%x",
    "NaN",
    "Infinity",
    "-0",
    "1e308",
  ),
);

/** A string of a size class: mostly short, sometimes long (up to 300,000 characters). */
export const sizedString: fc.Arbitrary<string> = fc.oneof(
  { weight: 40, arbitrary: oddString },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(1000, 65_536, 300_000), fc.constantFrom("x", "\\", "|", "\u00e9", " ", "&"))
      .map(([n, c]) => c.repeat(n)),
  },
);

/** An identifier a flow supplies (a session, encounter or patient number): PHI, so marked. */
export const identifier: fc.Arbitrary<string> = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...SESSION_POOL) },
  { weight: 3, arbitrary: sizedString.map((s) => `${PHI}${s}`) },
  { weight: 1, arbitrary: sizedString.map((s) => `${s}${PHI}`) },
);

/** Objects parsed from JSON that try to pollute prototypes. */
export const pollutingJson: fc.Arbitrary<unknown> = fc
  .constantFrom(
    '{"__proto__":{"polluted":"yes"}}',
    '{"constructor":{"prototype":{"polluted":"yes"}}}',
    '{"__proto__":{"toString":"x","valueOf":1}}',
    '[{"__proto__":{"length":1e9}}]',
    '{"a":{"__proto__":{"polluted":"yes"},"b":[{"__proto__":null}]}}',
  )
  .map((text) => JSON.parse(text) as unknown);

/** A value nested `depth` levels deep in objects or arrays. */
export const deepValue: fc.Arbitrary<unknown> = fc
  .tuple(fc.integer({ min: 10, max: 400 }), fc.boolean())
  .map(([depth, arrays]) => {
    let v: unknown = PHI;
    for (let i = 0; i < depth; i++) v = arrays ? [v] : { nested: v };
    return v;
  });

/** Anything at all, including what JSON cannot hold (BigInt, Map, Set, typed arrays, boxed values). */
export const anything: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.anything({
      maxDepth: 2,
      maxKeys: 4,
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withObjectString: true,
      withSparseArray: true,
      withTypedArray: true,
      // No "__proto__" key here: Node-RED's own cloneMessage turns such a key into the prototype of its
      // copy, so no flow can carry one past a node with two wires; JSON's own keys come from pollutingJson.
      key: fc.oneof(
        fc.string({ maxLength: 8 }),
        fc.constantFrom(...HOSTILE_KEYS.filter((k) => k !== "__proto__")),
      ),
    }),
  },
  { weight: 2, arbitrary: hostileNumber },
  { weight: 2, arbitrary: sizedString },
  { weight: 1, arbitrary: pollutingJson },
  { weight: 1, arbitrary: deepValue },
  { weight: 1, arbitrary: randomBytes() },
);

/** Random bytes of a size class, from a seed (cheap to generate, shrinks by size). */
export function randomBytes(maxClass = 200_000): fc.Arbitrary<Buffer> {
  return fc
    .tuple(fc.constantFrom(0, 1, 3, 320, 3200, 32_000, maxClass), fc.integer())
    .map(([n, seed]) => bytesFrom(n, seed));
}

/** Deterministic pseudo-random bytes (xorshift32). */
export function bytesFrom(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed | 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** s16le PCM of a whole number of samples: 100 ms at 16 kHz mostly, other sizes sometimes. */
export const pcm: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 10, arbitrary: fc.integer().map((seed) => bytesFrom(3200, seed)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(0, 2, 1600, 6400, 32_000, 32_002, 64_000), fc.integer())
      .map(([n, seed]) => bytesFrom(n, seed)),
  },
  { weight: 1, arbitrary: randomBytes() },
);

/** msg.control values, known and unknown. */
export const control: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom("flush", "stop", "end", "cancel", "ForceEndpoint", "Terminate", "flush ", "FLUSH"),
  fc.constantFrom(
    { type: "ForceEndpoint" },
    { type: "UpdateConfiguration", keyterms_prompt: [`${PHI}amine`] },
    { type: "UpdateConfiguration", min_turn_silence: -1 },
    { type: "UpdateConfiguration", prompt: "x".repeat(5000) },
    { type: "Terminate" },
    { type: "__proto__" },
  ),
  anything,
);

/** A path a flow might give as audio: special files, a FIFO, a directory, files that are not audio. */
export function filePaths(files: FuzzFiles): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(
      "/dev/zero",
      "/dev/null",
      "/dev/urandom",
      "/proc/self/fd/0",
      "/proc/self/mem",
      files.fifo,
      files.directory,
      files.empty,
      files.truncatedWav,
      files.notAudio,
      files.wav,
      `${files.directory}/${PHI}-missing.wav`,
      `${files.directory}/${PHI}\u0000.wav`,
      `../../${PHI}/etc/passwd`,
      `file://${files.wav}`,
    ),
    identifier.map((id) => `/tmp/${id}.wav`),
  );
}

/** The files `filePaths` points at, made in a temporary directory by the suite. */
export interface FuzzFiles {
  directory: string;
  fifo: string;
  empty: string;
  truncatedWav: string;
  notAudio: string;
  wav: string;
}

// ---------------------------------------------------------------------------------------------------
// Contract 1: audio chunks.

const audioInfo = fc.record(
  {
    sessionId: fc.oneof({ weight: 8, arbitrary: identifier }, { weight: 1, arbitrary: anything }),
    seq: fc.oneof(fc.nat(), hostileNumber),
    sampleRate: fc.oneof(
      { weight: 8, arbitrary: fc.constant(16000) },
      { weight: 1, arbitrary: fc.constantFrom(8000, 48000, "16000", 0, 1, 7999, 384001) },
      { weight: 1, arbitrary: hostileNumber },
      { weight: 1, arbitrary: anything },
    ),
    channels: fc.oneof(
      { weight: 8, arbitrary: fc.constant(1) },
      { weight: 1, arbitrary: fc.constantFrom(2, 0, 3, "1", 65536) },
      { weight: 1, arbitrary: hostileNumber },
    ),
    encoding: fc.oneof(
      { weight: 8, arbitrary: fc.constant("pcm_s16le") },
      {
        weight: 2,
        arbitrary: fc.constantFrom("pcm_mulaw", "pcm_f32le", "toString", "__proto__", "constructor", "opus"),
      },
      { weight: 1, arbitrary: anything },
    ),
    offsetMs: fc.oneof(fc.nat({ max: 3_600_000 }), hostileNumber),
    durationMs: fc.oneof(fc.constant(100), hostileNumber),
    end: fc.oneof({ weight: 6, arbitrary: fc.constant(undefined) }, fc.constant(true), anything),
  },
  { requiredKeys: ["sessionId"] },
);

/** A contract-1 audio chunk with hostile values; the topic usually names the same session. */
export const audioChunk: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(audioInfo, pcm, fc.boolean(), fc.option(control, { freq: 12 }))
  .map(([audio, payload, sameTopic, ctl]) => ({
    topic: sameTopic ? audio.sessionId : `${PHI}-topic`,
    payload,
    audio,
    ...(ctl === null ? {} : { control: ctl }),
  }));

/** sox-style flat fields instead of msg.audio. */
export const soxChunk: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(identifier, pcm, fc.oneof(fc.constant(16000), hostileNumber, anything), anything, anything)
  .map(([topic, payload, rate, bits, encoding]) => ({ topic, payload, rate, bits, encoding, channels: 1 }));

/** The end of a session, as audio-in sends it. */
export const endOfSession: fc.Arbitrary<Record<string, unknown>> = identifier.map((sessionId) => ({
  topic: sessionId,
  payload: Buffer.alloc(0),
  audio: { sessionId, end: true },
}));

// ---------------------------------------------------------------------------------------------------
// Contract 2: transcript results.

/** Replaces or deletes a few properties of an object (by position), so valid shapes turn hostile. */
function withEdits(arb: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Record<string, unknown>> {
  const edit = fc.tuple(fc.nat(), fc.oneof(fc.constant<"delete">("delete"), anything));
  return fc.tuple(arb, fc.array(edit, { minLength: 1, maxLength: 2 })).map(([obj, edits]) => {
    const out: Record<string, unknown> = { ...obj };
    const keys = Object.keys(out);
    for (const [i, value] of edits) {
      const key = keys[i % Math.max(1, keys.length)];
      if (key === undefined) continue;
      if (value === "delete") delete out[key];
      else out[key] = value;
    }
    return out;
  });
}

/** Seconds within the contract (0 to one year), the bounds and tiny and huge values included. */
const seconds: fc.Arbitrary<number> = fc.oneof(
  { weight: 8, arbitrary: fc.double({ min: 0, max: 600, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -0, 5e-324, 31536000, 31535999.999) },
  { weight: 1, arbitrary: fc.double({ min: 0, max: 31536000, noNaN: true }) },
);

/** Any number, the contract's or not. */
const time: fc.Arbitrary<number> = fc.oneof(
  { weight: 4, arbitrary: seconds },
  { weight: 1, arbitrary: hostileNumber },
);

const validConfidence: fc.Arbitrary<number | null> = fc.oneof(
  { weight: 4, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(null, 0, 1, -0, 5e-324) },
);

const confidence: fc.Arbitrary<number | null> = fc.oneof(
  { weight: 4, arbitrary: validConfidence },
  { weight: 1, arbitrary: hostileNumber },
);

const wordText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("Patient", "denies", "chest", "pain", ".", ",", "mg", "5") },
  { weight: 3, arbitrary: fc.constant(PHI) },
  { weight: 1, arbitrary: sizedString },
);

const validWord: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    text: wordText,
    startTime: seconds,
    endTime: seconds,
    confidence: validConfidence,
    kind: fc.constantFrom("word", "punctuation"),
    speaker: fc.oneof(fc.constantFrom("spk_0", "spk_1", "toString", "__proto__"), oddString),
    channel: fc.constantFrom("ch_0", "ch_1", "toString"),
    stable: fc.boolean(),
    vocabularyFilterMatch: fc.boolean(),
  },
  { requiredKeys: ["text", "startTime", "endTime", "confidence", "kind"] },
);

export const word: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 6, arbitrary: validWord },
  {
    weight: 1,
    arbitrary: fc.record({
      text: fc.oneof(wordText, anything),
      startTime: time,
      endTime: time,
      confidence,
      kind: fc.oneof(oddString, anything),
    }),
  },
);

/** A word list of a size class: a few generated words, or a huge list of one repeated word. */
function wordList(item: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<unknown[]> {
  return fc.oneof(
    { weight: 300, arbitrary: fc.array(item, { maxLength: 12 }) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom(5_000, 200_000), item)
        .map(([n, w]) => Array.from({ length: n }, () => w)),
    },
  );
}

export const words: fc.Arbitrary<unknown[]> = wordList(word);

const transcriptText: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.array(wordText, { maxLength: 12 }).map((w) => w.join(" ")) },
  { weight: 1, arbitrary: sizedString },
);

const language: fc.Arbitrary<string> = fc.constantFrom(
  "en-US",
  "und",
  "es-US",
  "de",
  "zh-Hant-TW",
  "en-x-Zzphi",
);

/** A result the contract accepts, with every value as extreme as the contract allows. */
const validResult: fc.Arbitrary<Record<string, unknown>> = fc
  .record(
    {
      provider: fc.oneof(
        fc.constantFrom("aws-transcribe-medical", "assemblyai", "aws-transcribe", "toString"),
        oddString.filter((x) => /\S/.test(x)),
      ),
      sessionId: identifier,
      segmentId: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom("seg-1", "seg-2", "seg-3", "0", "__proto__", "constructor") },
        { weight: 1, arbitrary: sizedString.map((x) => `s${x}`) },
      ),
      isFinal: fc.boolean(),
      withdrawn: fc.boolean(),
      text: transcriptText,
      confidence: validConfidence,
      startTime: seconds,
      endTime: seconds,
      words: wordList(validWord),
      speaker: fc.constantFrom("spk_0", "spk_1", "toString"),
      channel: fc.constantFrom("ch_0", "ch_1"),
      entities: fc.array(
        fc.record({
          category: fc.constantFrom("PHI", "PII", "__proto__"),
          type: fc.constantFrom("NAME", "SSN"),
          text: fc.constant(PHI),
          startTime: seconds,
          endTime: seconds,
          confidence: validConfidence,
        }),
        { maxLength: 3 },
      ),
      language,
    },
    {
      requiredKeys: [
        "provider",
        "sessionId",
        "segmentId",
        "isFinal",
        "text",
        "confidence",
        "startTime",
        "endTime",
        "words",
        "language",
      ],
    },
  )
  // A withdrawal carries no final, no text and no words (the contract pins them).
  .map((r) => (r.withdrawn === true ? { ...r, isFinal: false, text: "", words: [] } : r));

/** The same shape with any value hostile. */
const hostileResult: fc.Arbitrary<Record<string, unknown>> = fc.record({
  provider: fc.oneof(oddString, anything),
  sessionId: fc.oneof(identifier, anything),
  segmentId: fc.oneof(oddString, anything),
  isFinal: fc.oneof(fc.boolean(), anything),
  withdrawn: anything,
  text: fc.oneof(transcriptText, anything),
  confidence,
  startTime: time,
  endTime: time,
  words: fc.oneof(words, anything),
  language: fc.oneof(language, oddString),
});

/** A contract-2 result: mostly valid with extreme values, sometimes with fields broken. */
export const transcriptResult: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 6, arbitrary: validResult },
  { weight: 2, arbitrary: withEdits(validResult) },
  { weight: 1, arbitrary: hostileResult },
);

/** What a confidence gate attaches, hostile. */
const gateMark: fc.Arbitrary<unknown> = fc.oneof(
  fc.record({
    passed: fc.boolean(),
    reason: fc.oneof(fc.constantFrom("below-threshold", "no-confidence"), oddString),
    lowConfidenceWords: fc.oneof(fc.array(word, { maxLength: 4 }), anything),
  }),
  anything,
);

/** A transcript result message (contract 2), sometimes with a gate mark, a threshold or a control. */
export const resultMessage: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(
    transcriptResult,
    fc.boolean(),
    fc.option(gateMark, { freq: 3 }),
    fc.option(fc.oneof(hostileNumber, anything), { freq: 4 }),
  )
  .map(([payload, sameTopic, mark, threshold]) => ({
    topic: sameTopic ? payload.sessionId : `${PHI}-topic`,
    payload,
    ...(mark === null ? {} : { confidenceGate: mark }),
    ...(threshold === null ? {} : { threshold }),
  }));

/** A transcriber's session event (its second output), as transcript-document reads it. */
export const sessionEvent: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(
    identifier,
    fc.oneof(fc.constantFrom("ended", "termination", "error", "begin", "reconnecting"), oddString),
  )
  .map(([sessionId, event]) => ({ topic: sessionId, payload: { event, sessionId } }));

// ---------------------------------------------------------------------------------------------------
// Transcript documents, patients and encounters.

const isoDate: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constant("2026-01-15T14:30:00.000Z") },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "1970-01-01T00:00:00Z",
      "+275760-09-13T00:00:00.000Z",
      "-271821-04-20T00:00:00.000Z",
      "2026-02-30T25:61:61Z",
      "9999-12-31",
      "0",
      "",
      "not a date",
    ),
  },
  { weight: 1, arbitrary: oddString },
);

/**
 * A document id. Its `fzb-<behaviour>-` tag tells the hostile FHIR server how to answer the bundle
 * that carries it (the bundle holds the id as its identifier).
 */
const documentId: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 200,
    arbitrary: fc.uuid().map((u) => u),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom(...FHIR_BEHAVIOURS), fc.uuid())
      .map(([b, u]) => `${behaviourTag(b)}${u}`),
  },
  { weight: 1, arbitrary: sizedString },
);

const segment = fc.record({
  segmentId: fc.constantFrom("seg-1", "seg-2", "__proto__"),
  speaker: fc.constantFrom("spk_0", "toString"),
  startTime: time,
  endTime: time,
  text: transcriptText,
  confidence,
  review: fc.boolean(),
});

const documentRecord = fc.record(
  {
    documentId,
    sessionId: identifier,
    provider: fc.constantFrom("aws-transcribe-medical", "assemblyai"),
    language: fc.oneof(fc.constant("en-US"), oddString),
    startedAt: isoDate,
    completedAt: isoDate,
    durationSeconds: fc.oneof(fc.double({ min: 0, max: 7200, noNaN: true }), hostileNumber),
    endReason: fc.oneof(fc.constantFrom("flush", "idle", "ended", "error"), oddString),
    text: transcriptText,
    turns: fc.array(
      fc.record({
        speaker: fc.constantFrom("spk_0", "spk_1"),
        startTime: time,
        endTime: time,
        text: transcriptText,
      }),
      { maxLength: 4 },
    ),
    segments: fc.oneof(fc.array(segment, { maxLength: 4 }), anything),
    words,
    review: fc.oneof(
      {
        weight: 4,
        arbitrary: fc.array(
          fc.record({
            segmentId: fc.string(),
            startTime: time,
            endTime: time,
            reason: oddString,
            lowConfidenceWords: fc.array(word, { maxLength: 3 }),
          }),
          { maxLength: 3 },
        ),
      },
      { weight: 1, arbitrary: anything },
    ),
    quality: fc.record({
      meanConfidence: confidence,
      minConfidence: confidence,
      wordCount: hostileNumber,
      segmentCount: hostileNumber,
      reviewSegmentCount: hostileNumber,
    }),
  },
  {
    requiredKeys: [
      "documentId",
      "sessionId",
      "provider",
      "language",
      "startedAt",
      "completedAt",
      "text",
      "durationSeconds",
      "review",
    ],
  },
);

export const transcriptDocument: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 3, arbitrary: documentRecord },
  { weight: 1, arbitrary: withEdits(documentRecord) },
);

const patient: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record(
      {
        id: fc.oneof(identifier, fc.integer()),
        idAuthority: fc.oneof(fc.constant("HOSP"), oddString),
        idType: fc.constantFrom("MR", "toString"),
        family: fc.oneof(
          fc.constant(`${PHI}son`),
          sizedString.map((s) => `${PHI}${s}`),
        ),
        given: fc.constant(`${PHI}ina`),
        birthDate: fc.oneof(
          fc.constantFrom("1980-03-14", "19800314", "1980-02-30", "0000-00-00", "3000-01-01"),
          oddString,
        ),
        sex: fc.oneof(fc.constantFrom("F", "M", "U", "O"), oddString),
      },
      { requiredKeys: ["id", "family"] },
    ),
  },
  { weight: 1, arbitrary: anything },
);

const encounter: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      patientClass: fc.constantFrom("I", "O", "E", "__proto__"),
      location: identifier,
      visitNumber: identifier,
      visitAuthority: oddString,
      reference: fc.oneof(
        identifier.map((id) => `Encounter/${id}`),
        oddString,
      ),
      author: fc.record({ id: identifier, family: fc.constant(`${PHI}doc`), given: oddString }),
    }),
  },
  { weight: 1, arbitrary: anything },
);

/** A document message for hl7-mdm and fhir-document: document, patient and encounter. */
export const documentMessage: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(transcriptDocument, patient, fc.option(encounter, { freq: 2 }))
  .map(([payload, p, e]) => ({ payload, patient: p, ...(e === null ? {} : { encounter: e }) }));

// ---------------------------------------------------------------------------------------------------
// HL7 v2 text for mllp-out.

/**
 * An HL7 message. Its MSH-10 control id carries `fzb-<behaviour>-`, which tells the hostile MLLP
 * receiver how to answer; most ask for a plain AA.
 */
export const hl7Message: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(
      { weight: 150, arbitrary: fc.constant("aa") },
      { weight: 1, arbitrary: fc.constantFrom(...MLLP_BEHAVIOURS) },
    ),
    fc.nat(),
    fc.array(
      fc.oneof(
        fc.constant(`PID|1||${PHI}^^^HOSP^MR||${PHI}son^${PHI}ina||19800314|U`),
        fc.constant("OBX|1|TX|11506-3^Progress note^LN||Patient denies chest pain.||||||P"),
        sizedString.map((s) => `OBX|2|TX|||${s}||||||P`),
        oddString,
      ),
      { maxLength: 5 },
    ),
    fc.constantFrom("\r", "\n", "\r\n"),
  )
  .map(
    ([behaviour, n, segments, sep]) =>
      [
        `MSH|^~\\&|NODERED-ASR||EHR|HOSP|20260115143000||MDM^T02^MDM_T02|${behaviourTag(behaviour)}${n}|P|2.5.1`,
        ...segments,
      ].join(sep) + "\r",
  );

export const hostileHl7: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    "MSH",
    "MSH|",
    "MSH|^~\\&",
    "MSH|^~\\&|||||||",
    `MSH|^~\\&||||20260101||MDM^T02|\u000b\u001c\r|P|2.5.1`,
    `MSH|^~\\&||||20260101||MDM^T02|${"9".repeat(100_000)}|P|2.5.1`,
    "msh|^~\\&|a|b|c|d|1||ADT^A01|1|P|2.5",
    "PID|1||x",
  ),
  hl7Message.map((m) => Buffer.from(m, "utf8")),
  hl7Message.map((m) => `\u000b${m}\u001c\r`),
  sizedString.map((s) => `MSH|^~\\&|A|B|C|D|20260101||MDM^T02|${s}|P|2.5.1\r`),
);

// ---------------------------------------------------------------------------------------------------
// Whole messages.

/** A message of arbitrary properties, some of them those the nodes read. */
export const arbitraryMessage: fc.Arbitrary<Record<string, unknown>> = fc
  .dictionary(
    fc.constantFrom(
      "payload",
      "topic",
      "audio",
      "control",
      "patient",
      "encounter",
      "_session",
      "threshold",
      "confidenceGate",
      "hl7",
      "jobName",
      "rate",
      "bits",
      "channels",
      "encoding",
      "document",
      "constructor",
      "toString",
    ),
    anything,
    { maxKeys: 5 },
  )
  .map((m) => ({ ...m }));

/**
 * Weights of the kinds of message a target gets: structured (the contract it reads, hostile values),
 * arbitrary anything, and control messages.
 */
export function messages(
  structured: fc.Arbitrary<Record<string, unknown>>,
  weights = { structured: 6, anything: 2, control: 1 },
): fc.Arbitrary<Record<string, unknown>> {
  return fc.oneof(
    { weight: weights.structured, arbitrary: structured },
    { weight: weights.anything, arbitrary: arbitraryMessage },
    {
      weight: weights.control,
      arbitrary: fc.tuple(identifier, control).map(([topic, c]) => ({ topic, control: c })),
    },
  );
}
