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

// Newline-delimited framing for child_process pipes (bench/stdio.js), written as a competent user
// would, without readline: indexOf('\n') over each 'data' Buffer, lines handed out as views of
// the chunk, and only the unterminated tail kept (as a list of pieces, joined once its newline
// arrives, so a long line in many chunks is not re-concatenated each time). Same rules as ours'
// 'lines' framing: one trailing '\r' stripped, blank lines skipped.
const NL = 0x0a;
const CR = 0x0d;

class LineSplitter {
  #onLine;
  #tail = [];
  #tailLen = 0;

  constructor(onLine) {
    this.#onLine = onLine;
  }

  push(chunk) {
    let start = 0;
    let nl = chunk.indexOf(NL);
    if (nl === -1) {
      this.#keep(chunk);
      return;
    }
    if (this.#tailLen > 0) {
      this.#tail.push(chunk.subarray(0, nl));
      const line = Buffer.concat(this.#tail, this.#tailLen + nl);
      this.#tail = [];
      this.#tailLen = 0;
      this.#emit(line, 0, line.length);
      start = nl + 1;
      nl = chunk.indexOf(NL, start);
    }
    while (nl !== -1) {
      this.#emit(chunk, start, nl);
      start = nl + 1;
      nl = chunk.indexOf(NL, start);
    }
    if (start < chunk.length) this.#keep(chunk.subarray(start));
  }

  // The last line when the stream ends without a newline.
  end() {
    if (this.#tailLen === 0) return;
    const line = Buffer.concat(this.#tail, this.#tailLen);
    this.#tail = [];
    this.#tailLen = 0;
    this.#emit(line, 0, line.length);
  }

  #keep(piece) {
    this.#tail.push(piece);
    this.#tailLen += piece.length;
  }

  #emit(buf, start, end) {
    if (end > start && buf[end - 1] === CR) end--;
    if (end > start) this.#onLine(buf.subarray(start, end));
  }
}

module.exports = { encodeFrame, FrameParser, LineSplitter, HEADER_LEN };
