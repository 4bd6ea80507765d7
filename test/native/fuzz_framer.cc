// libFuzzer target for the frame splitter in native/framer.*, built once per framing mode with
// -DFUZZ_MODE=0 (length-prefixed), 1 (lines) or 2 (content-length); see scripts/fuzz.sh.
//
// It checks invariants, not only crashes, and abort()s on a violation (so libFuzzer saves the input):
//  - the frames, the error and the count of bytes consumed from the input cut into reads (driven the way the
//    stream engine drives the framer) equal those from the whole input in one Parse() and one Finish();
//  - both equal an independent, deliberately simple model of the wire format written here;
//  - no frame is longer than max_frame_size, every frame lies inside what its call consumed, and no call
//    consumes more than it was given;
//  - after an error no further frames, and the unconsumed rest starts at the bad frame: a fresh framer
//    given only that rest reports the same error without a frame;
//  - pending_header/pending_payload, when set, describe an incomplete frame within the limit;
//  - Finish() without an error consumes everything.
//
// Input layout (so the fuzzer controls how the stream is cut):
//   byte 0: bits 0-3 number of cuts (15: one read per byte), bits 4-5 sink stops after every N frames
//           (0: never), bits 6-7 max_frame_size (64, 0, 5, 4096)
//   byte 1: bit 0 emulates the engine's large-frame path (it takes a pending frame's payload itself and
//           calls Reset()), for payloads over 16 bytes
//   then 2 bytes (little-endian) per cut, taken modulo the stream length + 1, then the stream itself.
// The seed corpus in test/native/corpus/<mode>/ follows this layout.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "framer.h"

#ifndef FUZZ_MODE
#error "build with -DFUZZ_MODE=0, 1 or 2"
#endif

namespace {

using ipc::Framer;
using ipc::FramerError;
using ipc::FramingMode;
using ipc::ParseResult;

constexpr FramingMode kMode = static_cast<FramingMode>(FUZZ_MODE);
constexpr size_t kNoStop = SIZE_MAX;
constexpr size_t kBigThreshold = 16;

using Bytes = std::string;
using Frames = std::vector<Bytes>;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "fuzz_framer (mode %d): invariant violated: %s\n", FUZZ_MODE, what);
  std::abort();
}

#define REQUIRE(cond)                  \
  do {                                 \
    if (!(cond)) Fail(#cond);          \
  } while (0)

struct Outcome {
  Frames frames;
  FramerError error = FramerError::kNone;
  bool error_in_finish = false;
  // Bytes consumed in all, so where the unconsumed rest starts (after an error: the bad frame's start).
  size_t consumed = 0;
  bool consumed_known = true;  // false when the stream ended inside a frame the large-frame path took
  // The pending_* fields of the last Parse() before Finish() (only compared for runs without the
  // large-frame path).
  size_t pending_header = 0;
  size_t pending_payload = 0;
};

struct Sink {
  size_t len = 0;
  size_t max = 0;
  const uint8_t* base = nullptr;
  Frames* out = nullptr;
  size_t stop_every = kNoStop;
  size_t since_stop = 0;
  bool stopped = false;
  size_t max_end = 0;

  bool OnFrame(size_t offset, size_t length) {
    REQUIRE(offset <= len && length <= len - offset);
    REQUIRE(length <= max);
    out->emplace_back(reinterpret_cast<const char*>(base) + offset, length);
    max_end = std::max(max_end, offset + length);
    if (++since_stop >= stop_every) {
      since_stop = 0;
      stopped = true;
      return false;
    }
    return true;
  }
};

// One Parse() or Finish() over the unconsumed bytes, repeated while the sink stops it early, erasing the
// consumed prefix each time. The bytes are copied into an allocation of exactly their size (null when
// empty, as the engine's may be), so AddressSanitizer sees any read past them.
ParseResult Step(Framer& framer, Bytes& buf, bool finish, size_t stop_every, Frames* frames) {
  for (;;) {
    std::unique_ptr<uint8_t[]> copy(buf.empty() ? nullptr : new uint8_t[buf.size()]);
    if (!buf.empty()) std::memcpy(copy.get(), buf.data(), buf.size());
    Sink sink;
    sink.len = buf.size();
    sink.max = framer.max_frame_size();
    sink.base = copy.get();
    sink.out = frames;
    sink.stop_every = stop_every;
    size_t before = frames->size();
    ParseResult r = finish ? framer.Finish(copy.get(), buf.size(), sink) : framer.Parse(copy.get(), buf.size(), sink);
    REQUIRE(r.consumed <= buf.size());
    REQUIRE(sink.max_end <= r.consumed);
    if (sink.stopped) REQUIRE(frames->size() > before);
    if (!finish && r.error != FramerError::kNone) {
      REQUIRE(r.pending_header == 0 && r.pending_payload == 0);
      REQUIRE(r.error != FramerError::kTruncated);
    }
    if (r.pending_header != 0 || r.pending_payload != 0) {
      REQUIRE(kMode != FramingMode::kLines);
      REQUIRE(r.error == FramerError::kNone || (finish && r.error == FramerError::kTruncated));
      REQUIRE(r.pending_payload <= framer.max_frame_size());
      if (kMode == FramingMode::kLengthPrefixed) REQUIRE(r.pending_header == 4);
      // The frame is incomplete: its header and payload reach past the bytes given.
      REQUIRE(r.pending_header <= buf.size() - r.consumed);
      REQUIRE(r.pending_payload > buf.size() - r.consumed - r.pending_header);
    }
    buf.erase(0, r.consumed);
    if (r.error != FramerError::kNone || !sink.stopped) return r;
  }
}

struct Plan {
  std::vector<Bytes> reads;
  size_t stop_every = kNoStop;
  size_t max = 64;
  bool big_path = false;
};

// The engine's loop: append each read, parse, drop what was consumed; at the end, Finish().
Outcome Drive(const Plan& plan) {
  Framer framer(kMode, plan.max);
  Outcome out;
  Bytes buf;
  // Large-frame path: the payload of a pending frame is collected apart from the framer.
  Bytes big;
  size_t big_size = 0;
  bool in_big = false;
  size_t fed = 0;
  for (size_t i = 0; i < plan.reads.size(); i++) {
    Bytes read = plan.reads[i];
    fed += read.size();
    while (in_big) {
      size_t take = std::min(read.size(), big_size - big.size());
      big.append(read, 0, take);
      read.erase(0, take);
      if (big.size() < big_size) break;
      out.frames.push_back(big);
      big.clear();
      in_big = false;
      framer.Reset();
    }
    if (in_big) continue;
    buf += read;
    ParseResult r = Step(framer, buf, false, plan.stop_every, &out.frames);
    if (r.error != FramerError::kNone) {
      out.error = r.error;
      out.consumed = fed - buf.size();
      return out;
    }
    out.pending_header = r.pending_header;
    out.pending_payload = r.pending_payload;
    if (plan.big_path && r.pending_payload > kBigThreshold) {
      REQUIRE(buf.size() >= r.pending_header);
      big_size = r.pending_payload;
      big = buf.substr(r.pending_header);
      REQUIRE(big.size() < big_size);
      buf.clear();
      in_big = true;
      framer.Reset();
    }
  }
  if (in_big) {
    // The engine reports the stream ending inside a frame it was collecting as truncated.
    out.error = FramerError::kTruncated;
    out.error_in_finish = true;
    out.consumed_known = false;
    return out;
  }
  ParseResult r = Step(framer, buf, true, plan.stop_every, &out.frames);
  if (r.error != FramerError::kNone) {
    out.error = r.error;
    out.error_in_finish = true;
  } else {
    REQUIRE(buf.empty());
  }
  out.consumed = fed - buf.size();
  return out;
}

// ---------------------------------------------------------------------------------------------------
// A simple model of each wire format, written from framer.h's description, not from framer.cc.

struct Model {
  Frames frames;
  FramerError error = FramerError::kNone;
  size_t left_at = 0;  // where the unconsumed rest starts
};

Model ModelLengthPrefixed(const Bytes& s, size_t max) {
  Model m;
  size_t pos = 0;
  while (s.size() - pos >= 4) {
    uint64_t n = 0;
    for (int k = 0; k < 4; k++) n = (n << 8) | static_cast<uint8_t>(s[pos + k]);
    if (n > max) {
      m.error = FramerError::kFrameTooLarge;
      break;
    }
    if (s.size() - pos - 4 < n) break;
    m.frames.push_back(s.substr(pos + 4, n));
    pos += 4 + n;
  }
  m.left_at = pos;
  if (m.error == FramerError::kNone && pos < s.size()) m.error = FramerError::kTruncated;
  return m;
}

Model ModelLines(const Bytes& s, size_t max) {
  Model m;
  size_t pos = 0;
  for (;;) {
    size_t nl = s.find('\n', pos);
    bool last = nl == Bytes::npos;
    if (last && pos == s.size()) break;
    Bytes line = s.substr(pos, last ? Bytes::npos : nl - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() > max) {
      m.error = FramerError::kFrameTooLarge;
      break;
    }
    if (!line.empty()) m.frames.push_back(line);
    pos = last ? s.size() : nl + 1;
  }
  m.left_at = pos;
  return m;
}

bool Blank(char c) { return c == ' ' || c == '\t'; }

Bytes Trim(const Bytes& s) {
  size_t a = 0, b = s.size();
  while (a < b && Blank(s[a])) a++;
  while (b > a && Blank(s[b - 1])) b--;
  return s.substr(a, b - a);
}

Bytes Lower(Bytes s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

Model ModelContentLength(const Bytes& s, size_t max) {
  Model m;
  size_t pos = 0;
  for (;;) {
    if (pos == s.size()) break;
    // The header block, blank line included, must end within the first kMaxHeaderBlock bytes.
    size_t end = s.find("\r\n\r\n", pos);
    if (end == Bytes::npos || end + 4 - pos > Framer::kMaxHeaderBlock) {
      if (s.size() - pos >= Framer::kMaxHeaderBlock) m.error = FramerError::kProtocol;
      else m.error = FramerError::kTruncated;
      break;
    }
    // Header lines, each ending in \r\n (a lone \r or \n belongs to the line).
    bool have = false, too_large = false, protocol = false;
    uint64_t length = 0;
    size_t line = pos;
    while (line < end + 2) {
      size_t eol = s.find("\r\n", line);
      Bytes text = s.substr(line, eol - line);
      line = eol + 2;
      size_t colon = text.find(':');
      if (colon == Bytes::npos) {
        protocol = true;
        break;
      }
      if (Lower(Trim(text.substr(0, colon))) != "content-length") continue;
      if (have) {
        protocol = true;
        break;
      }
      have = true;
      Bytes value = Trim(text.substr(colon + 1));
      if (value.empty() || value.find_first_not_of("0123456789") != Bytes::npos) {
        protocol = true;
        break;
      }
      // Leading zeros are allowed; compare the digits without overflowing.
      size_t nz = value.find_first_not_of('0');
      Bytes digits = nz == Bytes::npos ? "0" : value.substr(nz);
      Bytes limit = std::to_string(max);
      if (digits.size() > limit.size() || (digits.size() == limit.size() && digits > limit)) {
        too_large = true;
      } else {
        length = std::stoull(digits);
      }
    }
    if (protocol || !have) {
      m.error = FramerError::kProtocol;
      break;
    }
    if (too_large) {
      m.error = FramerError::kFrameTooLarge;
      break;
    }
    size_t body = end + 4;
    if (s.size() - body < length) {
      m.error = FramerError::kTruncated;
      break;
    }
    m.frames.push_back(s.substr(body, length));
    pos = body + length;
  }
  m.left_at = pos;
  return m;
}

Model RunModel(const Bytes& s, size_t max) {
  switch (kMode) {
    case FramingMode::kLengthPrefixed:
      return ModelLengthPrefixed(s, max);
    case FramingMode::kLines:
      return ModelLines(s, max);
    case FramingMode::kContentLength:
      return ModelContentLength(s, max);
  }
  Fail("bad mode");
}

// ---------------------------------------------------------------------------------------------------

Plan MakePlan(const uint8_t* data, size_t size, Bytes* stream) {
  Plan plan;
  uint8_t b0 = size > 0 ? data[0] : 0;
  uint8_t b1 = size > 1 ? data[1] : 0;
  size_t skip = std::min<size_t>(size, 2);
  size_t ncuts = b0 & 0x0f;
  size_t stop = (b0 >> 4) & 3;
  static const size_t kMax[4] = {64, 0, 5, 4096};
  plan.max = kMax[b0 >> 6];
  plan.stop_every = stop == 0 ? kNoStop : stop;
  plan.big_path = (b1 & 1) != 0;
  std::vector<size_t> raw;
  if (ncuts != 15) {
    for (size_t i = 0; i < ncuts && skip + 2 <= size; i++, skip += 2) {
      raw.push_back(data[skip] | (size_t{data[skip + 1]} << 8));
    }
  }
  stream->assign(reinterpret_cast<const char*>(data) + skip, size - skip);
  if (ncuts == 15) {
    for (char c : *stream) plan.reads.push_back(Bytes(1, c));
    return plan;
  }
  std::vector<size_t> cuts;
  for (size_t r : raw) cuts.push_back(r % (stream->size() + 1));
  std::sort(cuts.begin(), cuts.end());
  size_t prev = 0;
  for (size_t c : cuts) {
    plan.reads.push_back(stream->substr(prev, c - prev));  // may be empty, which the framer must take
    prev = c;
  }
  plan.reads.push_back(stream->substr(prev));
  return plan;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Bytes stream;
  Plan plan = MakePlan(data, size, &stream);

  Plan whole;
  whole.max = plan.max;
  whole.reads.push_back(stream);
  Outcome a = Drive(whole);
  Outcome b = Drive(plan);
  Model m = RunModel(stream, plan.max);

  // Split and whole agree with each other...
  REQUIRE(a.frames.size() == b.frames.size());
  REQUIRE(a.frames == b.frames);
  REQUIRE(a.error == b.error);
  REQUIRE(a.error_in_finish == b.error_in_finish);
  if (b.consumed_known) {
    REQUIRE(a.consumed == b.consumed);
    // The last Parse() before Finish() saw the same bytes in both runs (unless an error came first).
    if (!plan.big_path && (a.error == FramerError::kNone || a.error_in_finish)) {
      REQUIRE(a.pending_header == b.pending_header);
      REQUIRE(a.pending_payload == b.pending_payload);
    }
  }
  // ...and with the model.
  REQUIRE(a.frames == m.frames);
  REQUIRE(a.error == m.error);
  REQUIRE(a.consumed == m.left_at);
  REQUIRE(a.error_in_finish == (a.error == FramerError::kTruncated));

  // The rest after an error starts at the bad frame: on its own it fails the same way, frame-less.
  if (a.error != FramerError::kNone) {
    Outcome again = Drive(Plan{{stream.substr(a.consumed)}, kNoStop, plan.max, false});
    REQUIRE(again.frames.empty());
    REQUIRE(again.error == a.error);
    REQUIRE(again.consumed == 0);
  }
  return 0;
}
