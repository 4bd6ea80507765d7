// Frame splitting for the three wire formats, as plain C++ with no Node-API include, so it can be
// unit-tested and fuzzed on its own (test/native/framer_test.cc, test/native/fuzz_framer.cc).
//
// The framer never owns bytes. The stream engine keeps the unconsumed bytes of a connection contiguous
// (in a read slab) and calls Parse() with all of them after every read. Parse() reports each complete
// frame as an offset and length relative to the start of the bytes it was given, and returns how many
// bytes it consumed. The caller drops the consumed bytes and calls again with the rest plus whatever
// arrives next. The only state carried between calls is how far the current partial frame has already
// been scanned, so a long line that arrives in many small reads is not rescanned from its start.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ipc {

enum class FramingMode : int {
  kLengthPrefixed = 0,  // 4-byte big-endian unsigned length, then the payload (tokio LengthDelimitedCodec)
  kLines = 1,           // payload, then 0x0A; one trailing \r stripped; blank lines skipped
  kContentLength = 2,   // LSP base protocol: "Content-Length: N\r\n...\r\n\r\n" then N bytes
};

enum class FramerError : int {
  kNone = 0,
  kFrameTooLarge = 1,  // a frame (or a line without its newline yet) longer than max_frame_size
  kProtocol = 2,       // content-length: missing, duplicate, negative or non-numeric length; header > 8 KiB
  kTruncated = 3,      // only from Finish(): the stream ended inside a frame
};

struct ParseResult {
  // Bytes at the front of the input that are finished with: complete frames, their headers and
  // separators, and skipped blank lines. Never more than the input length.
  size_t consumed = 0;
  // When the next frame's header has been parsed but its payload is incomplete: the header length and
  // the payload length, both counted from `consumed`. Lets the engine read a large payload straight into
  // an exact-size buffer. Both 0 when unknown (lines mode, or the header itself is incomplete).
  size_t pending_header = 0;
  size_t pending_payload = 0;
  FramerError error = FramerError::kNone;
};

class Framer {
 public:
  static constexpr size_t kMaxHeaderBlock = 8 * 1024;  // content-length header block limit

  Framer(FramingMode mode, size_t max_frame_size) : mode_(mode), max_frame_size_(max_frame_size) {}

  FramingMode mode() const { return mode_; }
  size_t max_frame_size() const { return max_frame_size_; }

  // Splits `data[0, len)` into frames. For each complete frame calls sink.OnFrame(offset, length), with
  // the offset relative to `data`; returning false from OnFrame stops parsing after that frame (the
  // result then consumes exactly through it). On an error, frames before the bad one have been delivered
  // and `consumed` stops at the bad frame's start; the connection must be closed.
  template <typename Sink>
  ParseResult Parse(const uint8_t* data, size_t len, Sink& sink);

  // The stream ended with `data[0, len)` unconsumed. In lines mode a final line without a newline is
  // delivered (after stripping one trailing \r; a blank remainder is skipped). Otherwise, any
  // non-empty remainder is kTruncated. If OnFrame returns false, Finish() stops as Parse() does, and the
  // caller calls it again with the rest.
  template <typename Sink>
  ParseResult Finish(const uint8_t* data, size_t len, Sink& sink);

  // Forget the scan position, e.g. after the engine consumed a frame on its own (large-frame path).
  void Reset() { scanned_ = 0; }

 private:
  // Parses at most one frame at data[0, len). Returns 1 and sets *header, *payload_off, *payload_len
  // (and *total) for a complete frame; 0 when more bytes are needed (filling the pending_* fields of
  // *res when the header is known); -1 on error (filling res->error).
  int ParseOne(const uint8_t* data, size_t len, size_t* payload_off, size_t* payload_len, size_t* total,
               ParseResult* res);

  FramingMode mode_;
  size_t max_frame_size_;
  // Bytes of the current partial frame (relative to the start of the unconsumed input) already known
  // to hold no frame end: in lines mode, bytes without 0x0A.
  size_t scanned_ = 0;
};

template <typename Sink>
ParseResult Framer::Parse(const uint8_t* data, size_t len, Sink& sink) {
  ParseResult res;
  size_t pos = 0;
  for (;;) {
    size_t off = 0, plen = 0, total = 0;
    ParseResult one;
    int r = ParseOne(data + pos, len - pos, &off, &plen, &total, &one);
    if (r < 0) {
      res.error = one.error;
      break;
    }
    if (r == 0) {
      res.pending_header = one.pending_header;
      res.pending_payload = one.pending_payload;
      break;
    }
    size_t start = pos;
    pos += total;
    scanned_ = 0;
    // A blank line is a separator in lines mode, never a frame.
    if (plen != 0 || mode_ != FramingMode::kLines) {
      if (!sink.OnFrame(start + off, plen)) break;
    }
  }
  res.consumed = pos;
  return res;
}

template <typename Sink>
ParseResult Framer::Finish(const uint8_t* data, size_t len, Sink& sink) {
  // When the sink stops Parse() early, what is left holds the next complete frame, not the stream's
  // last bytes: delivering it as a final line would join several lines into one, and calling it
  // truncated would be wrong. So return as Parse() does, and the caller calls Finish() again.
  struct StopWatch {
    Sink& sink;
    bool stopped;
    bool OnFrame(size_t offset, size_t length) {
      stopped = !sink.OnFrame(offset, length);
      return !stopped;
    }
  } watch{sink, false};
  ParseResult res = Parse(data, len, watch);
  if (res.error != FramerError::kNone || watch.stopped) return res;
  size_t rest = len - res.consumed;
  if (rest == 0) return res;
  if (mode_ == FramingMode::kLines) {
    size_t plen = rest;
    if (data[res.consumed + plen - 1] == '\r') plen--;
    if (plen > 0) sink.OnFrame(res.consumed, plen);
    res.consumed = len;
    scanned_ = 0;
    return res;
  }
  res.error = FramerError::kTruncated;
  return res;
}

}  // namespace ipc
