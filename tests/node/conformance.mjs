// Conformance test of `facecast serve` from an independent stack: Node.js, the npm packages `zeromq` (v6)
// and `@msgpack/msgpack`, written from bridge/PROTOCOL.md alone.
//
//   node conformance.mjs ENDPOINT SPEECH.pcm   (SPEECH.pcm: raw little-endian int16, 16 kHz, mono)
//
// Prints one JSON line with what it measured; exits 1 with a reason on the first violation.
import { readFileSync } from "node:fs";
import { decode, encode } from "@msgpack/msgpack";
import { Dealer } from "zeromq";

const [endpoint, pcmPath] = process.argv.slice(2);
const FRAME_FLOATS = 80;
const FRAME_BYTES = 320;
const JAW_OPEN = 2 + 17; // float offset of ARKit jawOpen: after frameIndex, time and 17 blendshapes
const VISEMES = 54;
const VOICE = 79;

function fail(reason) {
  console.error(`conformance failure: ${reason}`);
  process.exit(1);
}

function check(condition, reason) {
  if (!condition) fail(reason);
}

const sock = new Dealer({ linger: 0, receiveTimeout: 10000 });
sock.connect(endpoint);

async function send(message) {
  await sock.send(encode(message));
}

async function receive() {
  const frames = await sock.receive();
  check(frames.length === 1, `a server message must be one frame, got ${frames.length}`);
  const message = decode(frames[0]);
  check(message !== null && typeof message === "object" && typeof message.type === "string",
    "a server message must be a map with a string type");
  return message;
}

async function expect(type) {
  for (;;) {
    const message = await receive();
    if (message.type === type) return message;
    if (message.type === "error") fail(`expected ${type}, got error ${message.code}: ${message.message}`);
  }
}

// Handshake.
await send({ type: "hello", protocol: 1, client: "node-conformance" });
const welcome = await expect("welcome");
check(welcome.protocol === 1, "welcome.protocol must be 1");
check(welcome.frame.frame_bytes === FRAME_BYTES, "frame_bytes must be 320");
check(welcome.frame.layout_version === 1, "layout_version must be 1");
check(Array.isArray(welcome.capabilities.modes) && welcome.capabilities.modes.includes("motion"), "motion mode");

// Errors are typed replies, and the connection stays usable.
await send({ type: "open", fps: "fast" });
let error = await expect("error");
check(error.code === "bad_field", `bad fps must give bad_field, got ${error.code}`);
await send({ type: "audio", session: 987654, data: new Uint8Array(4) });
error = await expect("error");
check(error.code === "unknown_session", `unknown session must give unknown_session, got ${error.code}`);
await sock.send(Buffer.from([0xc1, 0x00, 0xff]));
error = await expect("error");
check(error.code === "bad_message", `garbage must give bad_message, got ${error.code}`);
await send({ type: "ping", t: "node" });
const pong = await expect("pong");
check(pong.t === "node", "pong must echo t");

// A session picks its lip model by lookahead; the default is the least.
const lookaheads = welcome.capabilities.lookaheads_ms;
check(Array.isArray(lookaheads) && lookaheads.length > 0 && lookaheads.every(Number.isInteger), "lookaheads_ms list");
check(welcome.capabilities.lookahead_ms === lookaheads[0], "the default lookahead must be the least");
await send({ type: "open", mode: "motion", fps: 30, lookahead_ms: lookaheads[lookaheads.length - 1] + 1 });
error = await expect("error");
check(error.code === "bad_field", `an unknown lookahead must give bad_field, got ${error.code}`);
await send({ type: "open", mode: "motion", fps: 30, lookahead_ms: lookaheads[lookaheads.length - 1] });
const slow = await expect("opened");
check(slow.lookahead_ms === lookaheads[lookaheads.length - 1], "opened must confirm the lookahead asked for");
await send({ type: "close", session: slow.session });
await expect("closed");

// One utterance, streamed in 20 ms chunks of pcm16.
const fps = 30;
await send({ type: "open", mode: "motion", fps, sample_rate: 16000, sample_format: "pcm16", channels: 1 });
const opened = await expect("opened");
const session = opened.session;
check(Number.isInteger(session), "opened.session must be an integer");
const pcm = readFileSync(pcmPath);
const chunk = 640; // 320 samples of int16 = 20 ms at 16 kHz
for (let i = 0; i < pcm.length; i += chunk) {
  await send({ type: "audio", session, data: new Uint8Array(pcm.subarray(i, i + chunk)) });
}
await send({ type: "end", session });

const frames = [];
const positions = [];
let ended;
for (;;) {
  const message = await receive();
  if (message.type === "motion") {
    check(message.session === session && message.utterance === 1, "motion must name its session and utterance");
    check(message.frames instanceof Uint8Array, "frames must be msgpack bin");
    check(message.frames.length === message.count * FRAME_BYTES, "frames must hold count * 320 bytes");
    check(message.sample_pos.length === message.count, "one sample_pos per frame");
    const copy = new Uint8Array(message.frames); // aligned copy for a Float32Array view
    const view = new DataView(copy.buffer);
    for (let f = 0; f < message.count; f++) {
      const floats = new Float32Array(FRAME_FLOATS);
      for (let k = 0; k < FRAME_FLOATS; k++) floats[k] = view.getFloat32(f * FRAME_BYTES + 4 * k, true);
      frames.push(floats);
    }
    positions.push(...message.sample_pos);
  } else if (message.type === "ended") {
    ended = message;
    break;
  } else if (message.type === "error") {
    fail(`error during streaming: ${message.code}: ${message.message}`);
  }
}

check(ended.frames === frames.length, `ended.frames ${ended.frames} != frames received ${frames.length}`);
check(ended.samples === pcm.length / 2, "ended.samples must count the samples sent");
const duration = pcm.length / 2 / 16000;
check(Math.abs(frames.length - duration * fps) <= 2, `expected about ${duration * fps} frames`);
let maxJaw = 0;
let maxVoice = 0;
for (let i = 0; i < frames.length; i++) {
  const f = frames[i];
  if (i > 0) {
    check(f[0] === frames[i - 1][0] + 1, "frame indices must be consecutive");
    check(Math.abs(f[1] - frames[i - 1][1] - 1 / fps) < 1e-4, "frame times must step by 1/fps");
    check(positions[i] >= positions[i - 1], "sample_pos must not go back");
  }
  let sum = 0;
  for (let v = 0; v < 15; v++) sum += f[VISEMES + v];
  check(Math.abs(sum - 1) < 1e-3, "viseme probabilities must sum to 1");
  maxJaw = Math.max(maxJaw, f[JAW_OPEN]);
  maxVoice = Math.max(maxVoice, f[VOICE]);
}
check(maxJaw > 0.2, `speech must open the jaw (max jawOpen ${maxJaw})`);
check(maxVoice > 0.5, "speech must be detected as voice");

await send({ type: "close", session });
const closed = await expect("closed");
check(closed.session === session, "closed must name the session");

// A texture-only session: raw RGB8 frames of the default avatar, rows top to bottom.
let textures = 0;
if (welcome.capabilities.modes.includes("texture")) {
  await send({ type: "open", mode: "texture", fps, size: 64, encoding: "rgb8", avatar: "default" });
  const tex = await expect("opened");
  check(tex.size === 64 && tex.encoding === "rgb8", "opened must confirm the texture size and encoding");
  for (let i = 0; i < Math.min(pcm.length, 16000); i += chunk) {
    await send({ type: "audio", session: tex.session, data: new Uint8Array(pcm.subarray(i, i + chunk)) });
  }
  await send({ type: "end", session: tex.session });
  for (;;) {
    const message = await receive();
    if (message.type === "ended") break;
    check(message.type !== "motion", "a texture-only session must not get motion messages");
    if (message.type === "texture") {
      check(message.width === 64 && message.height === 64, "texture must be 64 x 64");
      check(message.data instanceof Uint8Array && message.data.length === 64 * 64 * 3, "rgb8 data is 64*64*3 bytes");
      check(Number.isInteger(message.index) && Number.isInteger(message.sample_pos), "texture index and sample_pos");
      textures += 1;
    }
  }
  check(textures > 0, "a texture session must receive textures");
}
sock.close();
console.log(JSON.stringify({ ok: true, frames: frames.length, textures, maxJaw, seconds: duration }));
