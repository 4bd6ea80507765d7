// Standalone unit test of the frame splitter in native/framer.*, built without Node (see
// test/framer-native.test.ts for the exact command; it is also meant to run under ASan and UBSan).
//
// It drives the framer the way the stream engine does: the unconsumed bytes of a connection live in one
// contiguous buffer, each read is appended to it, Parse() runs over all of it, and the consumed prefix is
// erased. Frames are collected as std::string copies, so a frame that pointed into erased bytes would
// show up as wrong content (and as a heap error under ASan) rather than pass by accident.
//
// Prints one line per failed check and ends with exactly "framer: N passed, M failed".

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <type_traits>
#include <vector>

#include "framer.h"

namespace {

using ipc::Framer;
using ipc::FramerError;
using ipc::FramingMode;
using ipc::ParseResult;

using Frames = std::vector<std::string>;
using Reads = std::vector<std::string>;

constexpr size_t kMiB = 1024 * 1024;
constexpr size_t kNoStop = SIZE_MAX;

// ---------------------------------------------------------------------------------------------------
// Checks

int g_passed = 0;
int g_failed = 0;
std::string g_case;

const char* ErrorName(FramerError e) {
  switch (e) {
    case FramerError::kNone:
      return "kNone";
    case FramerError::kFrameTooLarge:
      return "kFrameTooLarge";
    case FramerError::kProtocol:
      return "kProtocol";
    case FramerError::kTruncated:
      return "kTruncated";
  }
  return "FramerError(?)";
}

// Frames can be megabytes of binary; a failure line shows a short, escaped prefix.
std::string Show(const std::string& s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < 40; i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > 40) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out + "\"";
}
std::string Show(FramerError e) { return ErrorName(e); }
template <typename T>
std::string Show(const T& v) {
  static_assert(std::is_integral<T>::value, "no Show() for this type");
  return std::to_string(v);
}

void Record(bool ok, int line, const std::string& what) {
  if (ok) {
    g_passed++;
    return;
  }
  g_failed++;
  std::printf("FAIL [%s] framer_test.cc:%d: %s\n", g_case.c_str(), line, what.c_str());
}

// The expected value is converted to the actual value's type, so `CHECK_EQ(frames.size(), 3)` compares
// without a signedness warning and `CHECK_EQ(frame, "abc")` compares strings, not pointers.
template <typename A, typename B>
void RecordEq(const A& actual, const B& expected, const char* a_expr, const char* b_expr, int line) {
  const A want = static_cast<A>(expected);
  if (actual == want) {
    Record(true, line, "");
  } else {
    Record(false, line,
           std::string(a_expr) + " == " + b_expr + " (got " + Show(actual) + ", want " + Show(want) + ")");
  }
}

#define CHECK(cond) Record((cond), __LINE__, #cond)
#define CHECK_EQ(actual, expected) RecordEq((actual), (expected), #actual, #expected, __LINE__)

// One check for a whole list of frames, naming the first difference.
void RecordFrames(const Frames& got, const Frames& want, const char* expr, int line) {
  std::string what;
  if (got.size() != want.size()) {
    what = std::string(expr) + ": " + std::to_string(got.size()) + " frames, want " +
           std::to_string(want.size());
  } else {
    for (size_t i = 0; i < got.size(); i++) {
      if (got[i] != want[i]) {
        what = std::string(expr) + ": frame " + std::to_string(i) + " is " + Show(got[i]) + ", want " +
               Show(want[i]);
        break;
      }
    }
  }
  Record(what.empty(), line, what);
}

#define CHECK_FRAMES(run, ...) RecordFrames((run).frames, Frames(__VA_ARGS__), #run ".frames", __LINE__)

// ---------------------------------------------------------------------------------------------------
// The engine's side of the contract

// Copies each frame out of the caller's buffer, and checks that it lies inside that buffer.
struct Collector {
  const uint8_t* base = nullptr;
  size_t len = 0;
  Frames* out = nullptr;
  // Frames accepted before OnFrame returns false, as an engine does when its delivery batch is full.
  size_t stop_every = kNoStop;
  size_t since_stop = 0;
  bool stopped = false;
  bool in_bounds = true;
  size_t max_end = 0;

  bool OnFrame(size_t offset, size_t length) {
    if (offset > len || length > len - offset) {
      in_bounds = false;
      return true;
    }
    out->emplace_back(reinterpret_cast<const char*>(base) + offset, length);
    if (offset + length > max_end) max_end = offset + length;
    if (++since_stop >= stop_every) {
      since_stop = 0;
      stopped = true;
      return false;
    }
    return true;
  }
};

struct Run {
  Frames frames;
  FramerError error = FramerError::kNone;
  bool error_in_finish = false;
  // Total bytes handed to the framer when it reported the error: shows how early it was detected.
  size_t fed_at_error = 0;
  // Sum of `consumed` over all calls, and the bytes still unconsumed at the end.
  size_t consumed = 0;
  size_t left = 0;
  // The pending_* fields of the last Parse() that returned without error.
  size_t pending_header = 0;
  size_t pending_payload = 0;
  // Every call consumed no more than it was given, and reported frames only inside what it consumed.
  bool consumed_ok = true;
  bool frames_ok = true;
};

// One Parse() (or Finish()) over everything unconsumed, then drop the consumed prefix. When the sink
// stopped the framer early, the engine calls again at once with the rest, and so does this.
ParseResult Step(Framer& framer, std::vector<uint8_t>& buf, bool finish, size_t stop_every, Run* run) {
  for (;;) {
    Collector sink;
    sink.base = buf.data();
    sink.len = buf.size();
    sink.out = &run->frames;
    sink.stop_every = stop_every;
    ParseResult r =
        finish ? framer.Finish(buf.data(), buf.size(), sink) : framer.Parse(buf.data(), buf.size(), sink);
    if (r.consumed > buf.size()) {
      run->consumed_ok = false;
      r.consumed = buf.size();
    }
    if (!sink.in_bounds || sink.max_end > r.consumed) run->frames_ok = false;
    run->consumed += r.consumed;
    buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(r.consumed));
    if (r.error != FramerError::kNone || !sink.stopped) return r;
  }
}

// Feeds `reads` one after another like successive socket reads, then (when `finish`) ends the stream.
Run Feed(Framer& framer, const Reads& reads, bool finish = true, size_t stop_every = kNoStop) {
  Run run;
  std::vector<uint8_t> buf;
  size_t fed = 0;
  for (const std::string& read : reads) {
    buf.insert(buf.end(), read.begin(), read.end());
    fed += read.size();
    ParseResult r = Step(framer, buf, false, stop_every, &run);
    if (r.error != FramerError::kNone) {
      run.error = r.error;
      run.fed_at_error = fed;
      run.left = buf.size();
      return run;
    }
    run.pending_header = r.pending_header;
    run.pending_payload = r.pending_payload;
  }
  if (finish) {
    ParseResult r = Step(framer, buf, true, stop_every, &run);
    if (r.error != FramerError::kNone) {
      run.error = r.error;
      run.error_in_finish = true;
      run.fed_at_error = fed;
    }
  }
  run.left = buf.size();
  return run;
}

Run Feed(FramingMode mode, size_t max, const Reads& reads, bool finish = true, size_t stop_every = kNoStop) {
  Framer framer(mode, max);
  return Feed(framer, reads, finish, stop_every);
}

// Ends a stream whose bytes no Parse() has seen yet: Finish() alone must frame all of them, and when the
// sink stops it early, the rest is the next frame, not the stream's last one.
Run FinishOnly(FramingMode mode, size_t max, const std::string& s, size_t stop_every) {
  Framer framer(mode, max);
  Run run;
  std::vector<uint8_t> buf(s.begin(), s.end());
  ParseResult r = Step(framer, buf, true, stop_every, &run);
  run.error = r.error;
  run.left = buf.size();
  return run;
}

// ---------------------------------------------------------------------------------------------------
// Ways to cut a stream into reads

Reads Whole(const std::string& s) { return {s}; }

Reads Chunks(const std::string& s, size_t n) {
  Reads out;
  for (size_t i = 0; i < s.size(); i += n) out.push_back(s.substr(i, n));
  return out;
}

Reads Bytes(const std::string& s) { return Chunks(s, 1); }

// Cuts at the given ascending offsets; an offset of 0 or s.size() gives an empty read, which the engine
// never makes but the framer must take in its stride.
Reads SplitAt(const std::string& s, const std::vector<size_t>& cuts) {
  Reads out;
  size_t prev = 0;
  for (size_t c : cuts) {
    out.push_back(s.substr(prev, c - prev));
    prev = c;
  }
  out.push_back(s.substr(prev));
  return out;
}

std::string Concat(const Frames& parts) {
  std::string out;
  for (const std::string& p : parts) out += p;
  return out;
}

// Deterministic on every platform, unlike the std distributions.
struct Rng {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  size_t Below(size_t n) { return static_cast<size_t>(Next() % n); }
  bool Percent(size_t p) { return Below(100) < p; }
  std::string Bytes(size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(Next() & 0xff);
    return s;
  }
};

std::string Pattern(size_t n, uint32_t seed) {
  Rng rng{seed};
  return rng.Bytes(n);
}

Reads RandomSplit(const std::string& s, Rng& rng) {
  std::vector<size_t> cuts;
  switch (rng.Below(3)) {
    case 0: {  // a few cuts anywhere
      size_t n = 1 + rng.Below(8);
      for (size_t i = 0; i < n; i++) cuts.push_back(rng.Below(s.size() + 1));
      break;
    }
    case 1: {  // small reads of random size
      for (size_t at = 0; at < s.size();) {
        at += 1 + rng.Below(16);
        if (at < s.size()) cuts.push_back(at);
      }
      break;
    }
    default: {  // many cuts, some landing in the same place
      size_t n = s.size() / 4 + 1;
      for (size_t i = 0; i < n; i++) cuts.push_back(rng.Below(s.size() + 1));
      break;
    }
  }
  std::sort(cuts.begin(), cuts.end());
  return SplitAt(s, cuts);
}

// ---------------------------------------------------------------------------------------------------
// Frame builders

std::string LPHeader(uint32_t n) {
  return {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
          static_cast<char>(n)};
}

std::string LP(const std::string& payload) {
  return LPHeader(static_cast<uint32_t>(payload.size())) + payload;
}

std::string CL(const std::string& payload) {
  return "Content-Length: " + std::to_string(payload.size()) + "\r\n\r\n" + payload;
}

std::string Str(const char* s, size_t n) { return std::string(s, n); }

// ---------------------------------------------------------------------------------------------------
// Length-prefixed

void TestLengthPrefixed() {
  const FramingMode m = FramingMode::kLengthPrefixed;

  g_case = "lp: one frame";
  {
    Run r = Feed(m, 1024, Whole(LP("hello")));
    CHECK_FRAMES(r, {"hello"});
    CHECK_EQ(r.error, FramerError::kNone);
    CHECK_EQ(r.left, 0);
  }

  g_case = "lp: header split across reads";
  {
    std::string s = LP("hello") + LP("world!");
    for (size_t cut = 1; cut < 4; cut++) {
      Run r = Feed(m, 1024, SplitAt(s, {cut}));
      CHECK_FRAMES(r, {"hello", "world!"});
      Run r2 = Feed(m, 1024, SplitAt(s, {9 + cut}));
      CHECK_FRAMES(r2, {"hello", "world!"});
    }
    // The header is in but the payload is not: the engine learns the payload length to size a buffer.
    Run r = Feed(m, 1024, Whole(s.substr(0, 9 + 4 + 2)), false);
    CHECK_FRAMES(r, {"hello"});
    CHECK_EQ(r.pending_header, 4);
    CHECK_EQ(r.pending_payload, 6);
    Run r3 = Feed(m, 1024, SplitAt(s.substr(0, 9 + 3), {9 + 1}), false);
    CHECK_FRAMES(r3, {"hello"});
    CHECK_EQ(r3.pending_header, 0);
    CHECK_EQ(r3.pending_payload, 0);
  }

  g_case = "lp: big-endian length";
  {
    // 0x00010203 has a different value in every byte, so any byte-order mistake changes it.
    std::string payload = Pattern(0x00010203, 1);
    std::string s = LP(payload);
    CHECK_EQ(s.substr(0, 4), Str("\x00\x01\x02\x03", 4));
    Run r = Feed(m, 0x00010203, Chunks(s, 1000));
    CHECK_EQ(r.frames.size(), 1);
    CHECK(r.frames.size() == 1 && r.frames[0] == payload);
  }

  g_case = "lp: one byte at a time";
  {
    Frames want = {"a", "", "hello world", std::string(300, 'z'), Str("\x00\n\xff", 3)};
    std::string s;
    for (const std::string& f : want) s += LP(f);
    Run r = Feed(m, 1024, Bytes(s));
    CHECK_FRAMES(r, want);
    CHECK_EQ(r.error, FramerError::kNone);
    CHECK_EQ(r.consumed, s.size());
  }

  g_case = "lp: many frames in one read";
  {
    Frames want;
    std::string s;
    for (size_t i = 0; i < 1000; i++) {
      want.push_back(Pattern(i % 97, static_cast<uint32_t>(i)));
      s += LP(want.back());
    }
    Run r = Feed(m, 1024, Whole(s));
    CHECK_EQ(r.frames.size(), 1000);
    CHECK_FRAMES(r, want);
    CHECK_EQ(r.left, 0);
  }

  g_case = "lp: 5 MiB frame";
  {
    std::string big = Pattern(5 * kMiB, 7);
    std::string s = LP("before") + LP(big) + LP("after");
    Run whole = Feed(m, 8 * kMiB, Whole(s));
    CHECK_EQ(whole.frames.size(), 3);
    CHECK(whole.frames.size() == 3 && whole.frames[1] == big);
    Run chunked = Feed(m, 8 * kMiB, Chunks(s, 65536));
    CHECK_EQ(chunked.frames.size(), 3);
    CHECK(chunked.frames == whole.frames);
    Run odd = Feed(m, 8 * kMiB, Chunks(s, 4093));
    CHECK(odd.frames == whole.frames);
    Run part = Feed(m, 8 * kMiB, Whole(s.substr(0, 10 + 4 + kMiB)), false);
    CHECK_EQ(part.pending_header, 4);
    CHECK_EQ(part.pending_payload, 5 * kMiB);
  }

  g_case = "lp: zero-length frames";
  {
    Run r = Feed(m, 1024, Whole(LPHeader(0)));
    CHECK_FRAMES(r, {""});
    Run r2 = Feed(m, 1024, Whole(LP("") + LP("") + LP("x") + LP("")));
    CHECK_FRAMES(r2, {"", "", "x", ""});
    // A zero-length frame at max 0 is still within the limit.
    Run r3 = Feed(m, 0, Bytes(LP("") + LP("")));
    CHECK_FRAMES(r3, {"", ""});
  }

  g_case = "lp: max_frame_size";
  {
    const size_t max = 64;
    Run exact = Feed(m, max, Whole(LP(std::string(max, 'm'))));
    CHECK_FRAMES(exact, {std::string(max, 'm')});
    CHECK_EQ(exact.error, FramerError::kNone);
    // Rejected from the 4-byte header alone, before any payload byte.
    Run over = Feed(m, max, Whole(LP("ok") + LPHeader(max + 1)), false);
    CHECK_EQ(over.error, FramerError::kFrameTooLarge);
    CHECK_FRAMES(over, {"ok"});
    CHECK_EQ(over.consumed, 6);
    CHECK_EQ(over.left, 4);
    Run bytes = Feed(m, max, Bytes(LPHeader(max + 1) + std::string(max + 1, 'x')), false);
    CHECK_EQ(bytes.error, FramerError::kFrameTooLarge);
    CHECK_EQ(bytes.fed_at_error, 4);
    CHECK_EQ(bytes.frames.size(), 0);
    Run huge = Feed(m, 8 * kMiB, Whole(LPHeader(0xffffffffu)), false);
    CHECK_EQ(huge.error, FramerError::kFrameTooLarge);
    // A 4-byte header whose top byte is set must not be read as a small signed value.
    Run top = Feed(m, 8 * kMiB, Whole(LPHeader(0x80000001u)), false);
    CHECK_EQ(top.error, FramerError::kFrameTooLarge);
    // Every byte of the header counts toward the limit.
    Run big = Feed(m, 0x01020304, Whole(LPHeader(0x01020305)), false);
    CHECK_EQ(big.error, FramerError::kFrameTooLarge);
  }

  g_case = "lp: EOF mid-frame";
  {
    std::string s = LP("hello");
    for (size_t cut = 1; cut < s.size(); cut++) {
      Run r = Feed(m, 1024, Whole(LP("first") + s.substr(0, cut)));
      CHECK_EQ(r.error, FramerError::kTruncated);
      CHECK(r.error_in_finish);
      CHECK_FRAMES(r, {"first"});
    }
    Run clean = Feed(m, 1024, Whole(LP("first")));
    CHECK_EQ(clean.error, FramerError::kNone);
    Run empty = Feed(m, 1024, {});
    CHECK_EQ(empty.error, FramerError::kNone);
    CHECK_EQ(empty.frames.size(), 0);
  }

  g_case = "lp: sink stops after each frame";
  {
    Run r = Feed(m, 1024, Whole(LP("a") + LP("") + LP("bc")), true, 1);
    CHECK_FRAMES(r, {"a", "", "bc"});
    CHECK_EQ(r.error, FramerError::kNone);
    for (size_t stop : {kNoStop, size_t{1}, size_t{2}}) {
      Run fin = FinishOnly(m, 1024, LP("a") + LP("") + LP("bc"), stop);
      CHECK_FRAMES(fin, {"a", "", "bc"});
      CHECK_EQ(fin.error, FramerError::kNone);
      CHECK_EQ(fin.left, 0);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Lines

void TestLines() {
  const FramingMode m = FramingMode::kLines;

  g_case = "lines: split on LF";
  {
    Run r = Feed(m, 1024, Whole("a\nbc\ndef\n"));
    CHECK_FRAMES(r, {"a", "bc", "def"});
    CHECK_EQ(r.left, 0);
  }

  g_case = "lines: CRLF";
  {
    Run r = Feed(m, 1024, Whole("a\r\nbc\r\n{\"x\":1}\r\n"));
    CHECK_FRAMES(r, {"a", "bc", "{\"x\":1}"});
    // The \r and the \n in different reads.
    Run split = Feed(m, 1024, SplitAt("ab\r\ncd\r\n", {3}));
    CHECK_FRAMES(split, {"ab", "cd"});
  }

  g_case = "lines: lone CR only stripped at the end";
  {
    Run r = Feed(m, 1024, Whole("a\rb\n\rc\nd\r\r\n"));
    CHECK_FRAMES(r, {"a\rb", "\rc", "d\r"});
    // A lone \r is not a line end.
    Run cr = Feed(m, 1024, Whole("a\rb\rc"), false);
    CHECK_EQ(cr.frames.size(), 0);
  }

  g_case = "lines: blank lines skipped";
  {
    Run r = Feed(m, 1024, Whole("\n\na\n\r\n\n \nb\n\r\n"));
    CHECK_FRAMES(r, {"a", " ", "b"});
    CHECK_EQ(r.left, 0);
    Run only = Feed(m, 1024, Whole("\n\r\n\n"));
    CHECK_EQ(only.frames.size(), 0);
    CHECK_EQ(only.consumed, 4);
  }

  g_case = "lines: NUL and invalid UTF-8 delivered as is";
  {
    // The literal is split so that the b is not read as another hex digit of \x00.
    std::string line = Str("a\x00" "b\xff\xfe\xc3\x28\x80", 8);
    Run r = Feed(m, 1024, Whole(line + "\n" + Str("\x00", 1) + "\n"));
    CHECK_FRAMES(r, {line, Str("\x00", 1)});
  }

  g_case = "lines: final line without newline via Finish";
  {
    Run no_finish = Feed(m, 1024, Whole("a\nlast"), false);
    CHECK_FRAMES(no_finish, {"a"});
    CHECK_EQ(no_finish.left, 4);
    Run r = Feed(m, 1024, Whole("a\nlast"));
    CHECK_FRAMES(r, {"a", "last"});
    CHECK_EQ(r.error, FramerError::kNone);
    CHECK_EQ(r.left, 0);
    Run cr = Feed(m, 1024, Whole("a\nlast\r"));
    CHECK_FRAMES(cr, {"a", "last"});
    Run blank = Feed(m, 1024, Whole("a\n\r"));
    CHECK_FRAMES(blank, {"a"});
    CHECK_EQ(blank.error, FramerError::kNone);
    CHECK_EQ(blank.left, 0);
    Run bytes = Feed(m, 1024, Bytes("x\ny"));
    CHECK_FRAMES(bytes, {"x", "y"});
    Run empty = Feed(m, 1024, {});
    CHECK_EQ(empty.frames.size(), 0);
    CHECK_EQ(empty.error, FramerError::kNone);
  }

  g_case = "lines: one byte at a time";
  {
    std::string s = "first\r\n\nsecond\n\r\n" + Str("x\x00y", 3) + "\nlast";
    Run r = Feed(m, 1024, Bytes(s));
    CHECK_FRAMES(r, {"first", "second", Str("x\x00y", 3), "last"});
    CHECK_EQ(r.consumed, s.size());
  }

  g_case = "lines: many lines in one read";
  {
    Frames want;
    std::string s;
    for (size_t i = 0; i < 1000; i++) {
      want.push_back("line " + std::to_string(i));
      s += want.back() + (i % 2 ? "\r\n" : "\n");
    }
    Run r = Feed(m, 1024, Whole(s));
    CHECK_EQ(r.frames.size(), 1000);
    CHECK_FRAMES(r, want);
  }

  g_case = "lines: 5 MiB line";
  {
    std::string big(5 * kMiB, 'j');
    for (size_t i = 0; i < big.size(); i += 4099) big[i] = static_cast<char>('a' + i % 26);
    std::string s = "before\n" + big + "\r\nafter\n";
    Run whole = Feed(m, 8 * kMiB, Whole(s));
    CHECK_EQ(whole.frames.size(), 3);
    CHECK(whole.frames.size() == 3 && whole.frames[1] == big);
    Run chunked = Feed(m, 8 * kMiB, Chunks(s, 65536));
    CHECK(chunked.frames == whole.frames);
    Run odd = Feed(m, 8 * kMiB, Chunks(s, 4093));
    CHECK(odd.frames == whole.frames);
    CHECK_EQ(odd.error, FramerError::kNone);
  }

  g_case = "lines: max_frame_size";
  {
    const size_t max = 16;
    const std::string at_max(max, 'm');
    Run exact = Feed(m, max, Whole(at_max + "\n"));
    CHECK_FRAMES(exact, {at_max});
    // The \r is not part of the line, so it does not count toward the limit.
    Run exact_crlf = Feed(m, max, Bytes(at_max + "\r\n"));
    CHECK_FRAMES(exact_crlf, {at_max});
    CHECK_EQ(exact_crlf.error, FramerError::kNone);
    Run pending = Feed(m, max, Whole(at_max + "\r"), false);
    CHECK_EQ(pending.error, FramerError::kNone);
    Run pending_bytes = Feed(m, max, Bytes(at_max), false);
    CHECK_EQ(pending_bytes.error, FramerError::kNone);
    Run last = Feed(m, max, Whole("a\n" + at_max + "\r"));
    CHECK_FRAMES(last, {"a", at_max});

    Run over = Feed(m, max, Whole("ok\n" + std::string(max + 1, 'x') + "\n"));
    CHECK_EQ(over.error, FramerError::kFrameTooLarge);
    CHECK_FRAMES(over, {"ok"});
    CHECK_EQ(over.consumed, 3);
    Run over_crlf = Feed(m, max, Whole(std::string(max + 1, 'x') + "\r\n"));
    CHECK_EQ(over_crlf.error, FramerError::kFrameTooLarge);
    // No newline yet: known too large by the time max+2 bytes are in, whatever they are.
    Run early = Feed(m, max, Whole(std::string(max + 2, 'x')), false);
    CHECK_EQ(early.error, FramerError::kFrameTooLarge);
    Run early_cr = Feed(m, max, Whole(std::string(max, 'x') + "\r\r"), false);
    CHECK_EQ(early_cr.error, FramerError::kFrameTooLarge);
    Run bytes = Feed(m, max, Bytes(std::string(max + 100, 'x')), false);
    CHECK_EQ(bytes.error, FramerError::kFrameTooLarge);
    CHECK(bytes.fed_at_error >= max + 1 && bytes.fed_at_error <= max + 2);
    Run bytes_cr = Feed(m, max, Bytes(at_max + "\rxxxxx"), false);
    CHECK_EQ(bytes_cr.error, FramerError::kFrameTooLarge);
    CHECK_EQ(bytes_cr.fed_at_error, max + 2);
    // The same limit applies to a last line that Finish delivers.
    Run fin = Feed(m, max, Whole(std::string(max + 1, 'x')));
    CHECK_EQ(fin.error, FramerError::kFrameTooLarge);
    CHECK_EQ(fin.frames.size(), 0);
    // Blank lines are within any limit, even 0.
    Run zero = Feed(m, 0, Whole("\n\r\n\n"));
    CHECK_EQ(zero.error, FramerError::kNone);
    CHECK_EQ(zero.frames.size(), 0);
  }

  g_case = "lines: no limit";
  {
    // SIZE_MAX means no limit; the limit arithmetic must not wrap around.
    Run r = Feed(m, SIZE_MAX, Bytes("abc\r\ndef"));
    CHECK_EQ(r.error, FramerError::kNone);
    CHECK_FRAMES(r, {"abc", "def"});
  }

  g_case = "lines: sink stops after each frame";
  {
    Run r = Feed(m, 1024, Whole("a\n\n\nb\r\nc\nd"), true, 1);
    CHECK_FRAMES(r, {"a", "b", "c", "d"});
    CHECK_EQ(r.error, FramerError::kNone);
    CHECK_EQ(r.left, 0);
    for (size_t stop : {kNoStop, size_t{1}, size_t{2}}) {
      Run fin = FinishOnly(m, 1024, "a\n\n\nb\r\nc\nd", stop);
      CHECK_FRAMES(fin, {"a", "b", "c", "d"});
      CHECK_EQ(fin.error, FramerError::kNone);
      CHECK_EQ(fin.left, 0);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Content-Length (LSP base protocol)

void TestContentLength() {
  const FramingMode m = FramingMode::kContentLength;
  const std::string body = "{\"jsonrpc\":\"2.0\",\"id\":1}";

  g_case = "cl: one message";
  {
    Run r = Feed(m, 1024, Whole(CL(body)));
    CHECK_FRAMES(r, {body});
    CHECK_EQ(r.error, FramerError::kNone);
    CHECK_EQ(r.left, 0);
  }

  g_case = "cl: header names in any case";
  {
    for (const char* name : {"content-length", "CONTENT-LENGTH", "CoNtEnT-lEnGtH", "Content-length"}) {
      Run r = Feed(m, 1024, Whole(std::string(name) + ": 5\r\n\r\nhello"));
      CHECK_FRAMES(r, {"hello"});
    }
  }

  g_case = "cl: unknown headers ignored";
  {
    Run r = Feed(m, 1024,
                 Whole("Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"
                       "Content-Length: 5\r\n"
                       "X-Note: Content-Length: 99\r\n"
                       "Content-Length-Extra: abc\r\n"
                       "X-Content-Length: -1\r\n"
                       "\r\nhello"));
    CHECK_FRAMES(r, {"hello"});
    CHECK_EQ(r.error, FramerError::kNone);
  }

  g_case = "cl: whitespace around the value";
  {
    for (const char* h : {"Content-Length:5", "Content-Length:   5", "Content-Length: 5   ",
                          "Content-Length:\t5", "Content-Length: \t 5 \t ", "Content-Length:5\t"}) {
      Run r = Feed(m, 1024, Whole(std::string(h) + "\r\n\r\nhello"));
      CHECK_FRAMES(r, {"hello"});
      CHECK_EQ(r.error, FramerError::kNone);
    }
  }

  g_case = "cl: header end split at every point";
  {
    std::string s = "Content-Type: x\r\nContent-Length: 5\r\n\r\nhello" + CL("ab");
    size_t header_end = s.find("\r\n\r\n") + 4;
    for (size_t cut = 0; cut <= s.size(); cut++) {
      Run r = Feed(m, 1024, SplitAt(s, {cut}));
      CHECK_FRAMES(r, {"hello", "ab"});
    }
    // Three reads, both cuts anywhere in or around the header block.
    size_t bad = 0, runs = 0;
    for (size_t a = 0; a <= header_end + 1; a++) {
      for (size_t b = a; b <= header_end + 1; b++) {
        Run r = Feed(m, 1024, SplitAt(s, {a, b}));
        runs++;
        if (r.frames != Frames{"hello", "ab"} || r.error != FramerError::kNone) bad++;
      }
    }
    CHECK_EQ(bad, 0);
    CHECK(runs > 500);
  }

  g_case = "cl: one byte at a time";
  {
    std::string s = CL(body) + "content-length:0\r\n\r\n" + CL("x");
    Run r = Feed(m, 1024, Bytes(s));
    CHECK_FRAMES(r, {body, "", "x"});
    CHECK_EQ(r.consumed, s.size());
  }

  g_case = "cl: several messages in one read";
  {
    Run two = Feed(m, 1024, Whole(CL("first") + CL("second")));
    CHECK_FRAMES(two, {"first", "second"});
    Frames want;
    std::string s;
    for (size_t i = 0; i < 1000; i++) {
      want.push_back("{\"id\":" + std::to_string(i) + "}");
      s += CL(want.back());
    }
    Run many = Feed(m, 1024, Whole(s));
    CHECK_EQ(many.frames.size(), 1000);
    CHECK_FRAMES(many, want);
  }

  g_case = "cl: zero-length body";
  {
    Run r = Feed(m, 1024, Whole("Content-Length: 0\r\n\r\n"));
    CHECK_FRAMES(r, {""});
    Run r2 = Feed(m, 0, Whole("Content-Length: 0\r\n\r\nContent-Length: 0\r\n\r\n"));
    CHECK_FRAMES(r2, {"", ""});
  }

  g_case = "cl: 5 MiB body";
  {
    std::string big = Pattern(5 * kMiB, 11);
    std::string s = CL("a") + CL(big) + CL("b");
    Run whole = Feed(m, 8 * kMiB, Whole(s));
    CHECK_EQ(whole.frames.size(), 3);
    CHECK(whole.frames.size() == 3 && whole.frames[1] == big);
    Run chunked = Feed(m, 8 * kMiB, Chunks(s, 65536));
    CHECK(chunked.frames == whole.frames);
    Run odd = Feed(m, 8 * kMiB, Chunks(s, 4093));
    CHECK(odd.frames == whole.frames);
    std::string header = "Content-Length: " + std::to_string(big.size()) + "\r\n\r\n";
    Run part = Feed(m, 8 * kMiB, Whole(CL("a") + header + big.substr(0, 100)), false);
    CHECK_FRAMES(part, {"a"});
    CHECK_EQ(part.pending_header, header.size());
    CHECK_EQ(part.pending_payload, big.size());
  }

  g_case = "cl: max_frame_size";
  {
    const size_t max = 16;
    Run exact = Feed(m, max, Whole(CL(std::string(max, 'm'))));
    CHECK_FRAMES(exact, {std::string(max, 'm')});
    // Rejected from the header alone, before any body byte.
    Run over = Feed(m, max, Whole(CL("ok") + "Content-Length: 17\r\n\r\n"), false);
    CHECK_EQ(over.error, FramerError::kFrameTooLarge);
    CHECK_FRAMES(over, {"ok"});
    CHECK_EQ(over.consumed, CL("ok").size());
    Run huge = Feed(m, max, Whole("Content-Length: 99999999999999999999999999999999\r\n\r\n"), false);
    CHECK_EQ(huge.error, FramerError::kFrameTooLarge);
    // With no limit, a length that does not fit in 64 bits must not wrap around to a small one.
    Run wrap = Feed(m, SIZE_MAX, Whole("Content-Length: 18446744073709551621\r\n\r\nhello"));
    CHECK_EQ(wrap.error, FramerError::kFrameTooLarge);
    CHECK_EQ(wrap.frames.size(), 0);
    Run no_limit = Feed(m, SIZE_MAX, Bytes(CL("hello")));
    CHECK_FRAMES(no_limit, {"hello"});
  }

  g_case = "cl: bad length";
  {
    const char* bad[] = {
        "Content-Type: x\r\n\r\nhello",                        // missing
        "\r\n\r\nhello",                                       // no headers at all
        "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",  // duplicate, even when equal
        "Content-Length: 5\r\ncontent-length: 6\r\n\r\nhello",  // duplicate in another case
        "Content-Length: -1\r\n\r\nhello",
        "Content-Length: abc\r\n\r\nhello",
        "Content-Length: 1e9\r\n\r\nhello",
        "Content-Length: 5x\r\n\r\nhello",
        "Content-Length: +5\r\n\r\nhello",
        "Content-Length: 0x5\r\n\r\nhello",
        "Content-Length: 2 3\r\n\r\nhello",
        "Content-Length:\r\n\r\nhello",
        "Content-Length:  \t \r\n\r\nhello",
    };
    for (const char* s : bad) {
      Run r = Feed(m, 1024, Whole(CL("ok") + s), false);
      if (r.error != FramerError::kProtocol) {
        Record(false, __LINE__, "want kProtocol for " + Show(std::string(s)) + ", got " + ErrorName(r.error));
      } else {
        Record(true, __LINE__, "");
      }
      CHECK_FRAMES(r, {"ok"});
      CHECK_EQ(r.consumed, CL("ok").size());
    }
  }

  g_case = "cl: header block limit";
  {
    const size_t limit = Framer::kMaxHeaderBlock;
    CHECK_EQ(limit, 8192);
    // A header block of exactly 8 KiB, blank line included, is within the limit.
    std::string head = "Content-Length: 2\r\nX-Pad: ";
    std::string exact = head + std::string(limit - head.size() - 4, 'p') + "\r\n\r\n";
    CHECK_EQ(exact.size(), limit);
    Run ok = Feed(m, 1024, Chunks(exact + "hi", 1000));
    CHECK_FRAMES(ok, {"hi"});
    CHECK_EQ(ok.error, FramerError::kNone);
    std::string longer = head + std::string(limit - head.size() - 3, 'p') + "\r\n\r\n";
    Run over = Feed(m, 1024, Whole(longer + "hi"), false);
    CHECK_EQ(over.error, FramerError::kProtocol);
    // With no terminator in sight, the error comes once 8 KiB are in, not when the peer stops sending.
    Run bytes = Feed(m, 1024, Chunks(CL("ok") + "X-Pad: " + std::string(3 * limit, 'p'), 1000), false);
    CHECK_EQ(bytes.error, FramerError::kProtocol);
    CHECK_FRAMES(bytes, {"ok"});
    const size_t first = CL("ok").size();
    CHECK(bytes.fed_at_error >= first + limit && bytes.fed_at_error < first + limit + 1000);
    Run one = Feed(m, 1024, Bytes(std::string(limit + 10, 'h')), false);
    CHECK_EQ(one.error, FramerError::kProtocol);
    CHECK_EQ(one.fed_at_error, limit);
  }

  g_case = "cl: EOF mid-message";
  {
    std::string s = CL("hello");
    for (size_t cut = 1; cut < s.size(); cut++) {
      Run r = Feed(m, 1024, Whole(CL("first") + s.substr(0, cut)));
      CHECK_EQ(r.error, FramerError::kTruncated);
      CHECK(r.error_in_finish);
      CHECK_FRAMES(r, {"first"});
    }
    Run clean = Feed(m, 1024, Whole(CL("first")));
    CHECK_EQ(clean.error, FramerError::kNone);
  }

  g_case = "cl: engine takes a large body itself";
  {
    // The engine reads a pending body into its own buffer, drops header and body, and calls Reset();
    // the next, shorter header must then be found from its own start.
    Framer framer(m, 1024);
    std::string first = "Content-Type: application/vscode-jsonrpc\r\nContent-Length: 4\r\n\r\n";
    Run r = Feed(framer, Whole(first + "ab"), false);
    CHECK_EQ(r.pending_header, first.size());
    CHECK_EQ(r.pending_payload, 4);
    framer.Reset();
    Run next = Feed(framer, Bytes(CL("xy") + CL("z")));
    CHECK_FRAMES(next, {"xy", "z"});
  }

  g_case = "cl: sink stops after each frame";
  {
    Run r = Feed(m, 1024, Whole(CL("a") + CL("") + CL("bc")), true, 1);
    CHECK_FRAMES(r, {"a", "", "bc"});
    CHECK_EQ(r.error, FramerError::kNone);
    for (size_t stop : {kNoStop, size_t{1}, size_t{2}}) {
      Run fin = FinishOnly(m, 1024, CL("a") + CL("") + CL("bc"), stop);
      CHECK_FRAMES(fin, {"a", "", "bc"});
      CHECK_EQ(fin.error, FramerError::kNone);
      CHECK_EQ(fin.left, 0);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Property: any split of a valid stream gives the frames of the whole stream

struct Stream {
  std::string bytes;
  Frames frames;
  size_t max = 0;
};

std::string RandomPayload(Rng& rng) {
  // Mostly small frames, so each stream has many boundaries; some empty ones and some long ones.
  size_t kind = rng.Below(10);
  size_t n = kind == 0 ? 0 : kind == 1 ? 200 + rng.Below(3000) : 1 + rng.Below(40);
  return rng.Bytes(n);
}

std::string RandomCase(const std::string& s, Rng& rng) {
  std::string out = s;
  for (char& c : out) {
    if (c >= 'a' && c <= 'z' && rng.Percent(50)) c = static_cast<char>(c - 'a' + 'A');
    else if (c >= 'A' && c <= 'Z' && rng.Percent(50)) c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string RandomSpace(Rng& rng) {
  std::string out;
  for (size_t n = rng.Below(3); n > 0; n--) out += rng.Percent(50) ? ' ' : '\t';
  return out;
}

Stream RandomStream(FramingMode mode, Rng& rng) {
  Stream st;
  size_t count = rng.Below(12);
  size_t largest = 0;
  for (size_t i = 0; i < count; i++) {
    std::string p = RandomPayload(rng);
    switch (mode) {
      case FramingMode::kLengthPrefixed:
        st.bytes += LP(p);
        break;
      case FramingMode::kLines: {
        // A line holds no \n and cannot end in \r (that \r would be stripped), and a blank one is skipped.
        for (char& c : p) {
          if (c == '\n') c = 'n';
        }
        if (p.empty()) p = "e";
        if (p.back() == '\r') p.back() = 'r';
        for (size_t b = rng.Below(3); b > 0; b--) st.bytes += rng.Percent(50) ? "\n" : "\r\n";
        st.bytes += p;
        // The last line may end without a newline; Finish() delivers it.
        if (i + 1 < count || rng.Percent(70)) st.bytes += rng.Percent(50) ? "\n" : "\r\n";
        break;
      }
      case FramingMode::kContentLength: {
        Frames headers = {RandomCase("Content-Length", rng) + ":" + RandomSpace(rng) +
                          std::to_string(p.size()) + RandomSpace(rng) + "\r\n"};
        if (rng.Percent(40)) headers.push_back("Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n");
        if (rng.Percent(20)) headers.push_back("X-Extra:" + RandomSpace(rng) + "a: b\r\n");
        if (rng.Percent(50)) std::swap(headers.front(), headers.back());
        st.bytes += Concat(headers) + "\r\n" + p;
        break;
      }
    }
    largest = std::max(largest, p.size());
    st.frames.push_back(p);
  }
  // Sometimes the largest frame is exactly at the limit.
  st.max = rng.Percent(30) ? largest : largest + 1 + rng.Below(5000);
  return st;
}

void TestSplitProperty(FramingMode mode, const char* name, uint64_t seed) {
  g_case = std::string(name) + ": random splits";
  Rng rng{seed};
  const size_t streams = 300;
  size_t total_frames = 0, empty_streams = 0;
  for (size_t i = 0; i < streams; i++) {
    Stream st = RandomStream(mode, rng);
    total_frames += st.frames.size();
    if (st.frames.empty()) empty_streams++;
    Run whole = Feed(mode, st.max, Whole(st.bytes));
    bool ok = whole.error == FramerError::kNone && whole.frames == st.frames && whole.left == 0 &&
              whole.consumed == st.bytes.size() && whole.consumed_ok && whole.frames_ok;
    if (!ok) {
      Record(false, __LINE__,
             "stream " + std::to_string(i) + " parsed whole: " + std::to_string(whole.frames.size()) +
                 " frames, want " + std::to_string(st.frames.size()) + ", error " + ErrorName(whole.error));
      continue;
    }
    for (size_t k = 0; k < 4; k++) {
      // One run in four also lets the sink stop the framer after every frame or two.
      size_t stop_every = k == 3 ? 1 + rng.Below(2) : kNoStop;
      Reads reads = i % 25 == 0 && k == 0 ? Bytes(st.bytes) : RandomSplit(st.bytes, rng);
      Run split = Feed(mode, st.max, reads, true, stop_every);
      if (split.error != FramerError::kNone || split.frames != whole.frames || split.left != 0 ||
          split.consumed != st.bytes.size()) {
        Record(false, __LINE__,
               "stream " + std::to_string(i) + " in " + std::to_string(reads.size()) + " reads (stop every " +
                   (stop_every == kNoStop ? std::string("never") : std::to_string(stop_every)) +
                   "): " + std::to_string(split.frames.size()) + " frames, want " +
                   std::to_string(whole.frames.size()) + ", error " + ErrorName(split.error));
      } else {
        Record(true, __LINE__, "");
      }
      CHECK(split.consumed_ok);
      CHECK(split.frames_ok);
    }
  }
  // The generator itself must produce something worth checking.
  CHECK(total_frames > streams * 3);
  CHECK(empty_streams < streams / 5);
}

// Every prefix of a valid stream, when the stream ends there, gives the frames fully inside the prefix
// and kTruncated exactly when a frame was cut (lines mode instead delivers the cut line).
void TestTruncationProperty(uint64_t seed) {
  g_case = "lp+cl: every EOF point";
  Rng rng{seed};
  size_t bad = 0, runs = 0;
  for (FramingMode mode : {FramingMode::kLengthPrefixed, FramingMode::kContentLength}) {
    for (size_t i = 0; i < 20; i++) {
      Stream st = RandomStream(mode, rng);
      std::vector<size_t> ends;
      size_t at = 0;
      for (const std::string& f : st.frames) {
        // A content-length header block ends at the first blank line after the previous frame.
        if (mode == FramingMode::kLengthPrefixed) {
          at += LP(f).size();
        } else {
          at = st.bytes.find("\r\n\r\n", at) + 4 + f.size();
        }
        ends.push_back(at);
      }
      for (size_t cut = 0; cut <= st.bytes.size(); cut += 1 + rng.Below(7)) {
        size_t complete = 0;
        while (complete < ends.size() && ends[complete] <= cut) complete++;
        bool at_boundary = cut == 0 || (complete > 0 && ends[complete - 1] == cut);
        Run r = Feed(mode, st.max, RandomSplit(st.bytes.substr(0, cut), rng));
        Frames want(st.frames.begin(), st.frames.begin() + static_cast<std::ptrdiff_t>(complete));
        runs++;
        FramerError want_error = at_boundary ? FramerError::kNone : FramerError::kTruncated;
        if (r.frames != want || r.error != want_error) bad++;
      }
    }
  }
  CHECK_EQ(bad, 0);
  CHECK(runs > 100);
}

}  // namespace

int main() {
  TestLengthPrefixed();
  TestLines();
  TestContentLength();
  TestSplitProperty(FramingMode::kLengthPrefixed, "lp", 0x5eed0001);
  TestSplitProperty(FramingMode::kLines, "lines", 0x5eed0002);
  TestSplitProperty(FramingMode::kContentLength, "cl", 0x5eed0003);
  TestTruncationProperty(0x5eed0004);
  std::printf("framer: %d passed, %d failed\n", g_passed, g_failed);
  return g_failed > 0 ? 1 : 0;
}
