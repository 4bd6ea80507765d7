'use strict';

// Length-prefixed framing for node:net, written the way a competent user would: one
// Buffer.allocUnsafe(4 + n) and one socket.write() per frame on send, and on receive a parser
// that hands out views and never re-concatenates what it already holds (no O(n^2) on a frame
// that arrives in many chunks). This is the baseline our transport is measured against.

const HEADER_LEN = 4;

function encodeFrame(payload) {
  const frame = Buffer.allocUnsafe(HEADER_LEN + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  payload.copy(frame, HEADER_LEN);
  return frame;
}

class FrameParser {
  #onFrame;
  // Chunks of an incomplete frame; joined once, when enough bytes for the next step have arrived.
  #pending = [];
  #pendingLen = 0;
  // Bytes needed before parsing can make progress: the header, then the whole frame.
  #need = HEADER_LEN;

  constructor(onFrame) {
    this.#onFrame = onFrame;
  }

  push(chunk) {
    if (this.#pendingLen > 0) {
      this.#pending.push(chunk);
      this.#pendingLen += chunk.length;
      if (this.#pendingLen < this.#need) return;
      chunk = Buffer.concat(this.#pending, this.#pendingLen);
      this.#pending = [];
      this.#pendingLen = 0;
    }
    const end = chunk.length;
    let off = 0;
    while (end - off >= HEADER_LEN) {
      const len = chunk.readUInt32BE(off);
      if (end - off - HEADER_LEN < len) break;
      this.#onFrame(chunk.subarray(off + HEADER_LEN, off + HEADER_LEN + len));
      off += HEADER_LEN + len;
    }
    if (off < end) {
      // Node hands each read its own buffer, so keeping a view of the tail is safe.
      const rest = chunk.subarray(off);
      this.#pending.push(rest);
      this.#pendingLen = rest.length;
      this.#need = rest.length >= HEADER_LEN ? HEADER_LEN + rest.readUInt32BE(0) : HEADER_LEN;
    }
  }
}

module.exports = { encodeFrame, FrameParser, HEADER_LEN };
