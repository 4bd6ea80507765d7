#include "framer.h"

#include <cstring>

namespace ipc {

namespace {

bool EqualsIgnoreCase(const uint8_t* a, size_t len, const char* lower) {
  size_t n = std::strlen(lower);
  if (len != n) return false;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<uint8_t>(c - 'A' + 'a');
    if (c != static_cast<uint8_t>(lower[i])) return false;
  }
  return true;
}

bool IsSpace(uint8_t c) { return c == ' ' || c == '\t'; }

// Finds "\r\n\r\n" in data[from, len); returns the index just past it, or 0 when absent.
size_t FindHeaderEnd(const uint8_t* data, size_t len, size_t from) {
  for (size_t i = from; i + 4 <= len; i++) {
    const void* cr = std::memchr(data + i, '\r', len - i);
    if (cr == nullptr) return 0;
    i = static_cast<const uint8_t*>(cr) - data;
    if (i + 4 <= len && data[i + 1] == '\n' && data[i + 2] == '\r' && data[i + 3] == '\n') return i + 4;
  }
  return 0;
}

}  // namespace

int Framer::ParseOne(const uint8_t* data, size_t len, size_t* payload_off, size_t* payload_len,
                     size_t* total, ParseResult* res) {
  switch (mode_) {
    case FramingMode::kLengthPrefixed: {
      if (len < 4) return 0;
      uint64_t n = (uint64_t{data[0]} << 24) | (uint64_t{data[1]} << 16) | (uint64_t{data[2]} << 8) | data[3];
      if (n > max_frame_size_) {
        res->error = FramerError::kFrameTooLarge;
        return -1;
      }
      if (len - 4 < n) {
        res->pending_header = 4;
        res->pending_payload = static_cast<size_t>(n);
        return 0;
      }
      *payload_off = 4;
      *payload_len = static_cast<size_t>(n);
      *total = 4 + static_cast<size_t>(n);
      return 1;
    }

    case FramingMode::kLines: {
      size_t from = scanned_ < len ? scanned_ : len;
      // memchr() must not see a null pointer even for zero bytes, and Finish() at EOF is often handed
      // an empty buffer whose data() is null.
      const void* nl = from < len ? std::memchr(data + from, '\n', len - from) : nullptr;
      if (nl == nullptr) {
        scanned_ = len;
        // One more byte than the limit may still be a \r that is stripped once the newline comes. The
        // test subtracts instead of adding 1 to the limit, which would wrap to 0 for a limit of SIZE_MAX.
        if (len > max_frame_size_ && (len - max_frame_size_ > 1 || data[len - 1] != '\r')) {
          res->error = FramerError::kFrameTooLarge;
          return -1;
        }
        return 0;
      }
      size_t i = static_cast<const uint8_t*>(nl) - data;
      size_t n = i;
      if (n > 0 && data[n - 1] == '\r') n--;
      if (n > max_frame_size_) {
        res->error = FramerError::kFrameTooLarge;
        return -1;
      }
      *payload_off = 0;
      *payload_len = n;
      *total = i + 1;
      return 1;
    }

    case FramingMode::kContentLength: {
      // Resume the search for the blank line a few bytes before where the last call stopped, since
      // "\r\n\r\n" may straddle two reads.
      size_t from = scanned_ > 3 ? scanned_ - 3 : 0;
      size_t limit = len < kMaxHeaderBlock ? len : kMaxHeaderBlock;
      size_t end = FindHeaderEnd(data, limit, from < limit ? from : limit);
      if (end == 0) {
        scanned_ = limit;
        if (len >= kMaxHeaderBlock) {
          res->error = FramerError::kProtocol;
          return -1;
        }
        return 0;
      }
      bool have_length = false;
      bool too_large = false;
      uint64_t length = 0;
      size_t line = 0;
      while (line < end - 2) {
        // Each header line ends in \r\n; the block ends with an empty line.
        size_t eol = line;
        while (!(data[eol] == '\r' && data[eol + 1] == '\n')) eol++;
        const uint8_t* colon = static_cast<const uint8_t*>(std::memchr(data + line, ':', eol - line));
        if (colon == nullptr) {
          res->error = FramerError::kProtocol;
          return -1;
        }
        size_t name_end = colon - data;
        size_t name_start = line;
        while (name_start < name_end && IsSpace(data[name_start])) name_start++;
        while (name_end > name_start && IsSpace(data[name_end - 1])) name_end--;
        if (EqualsIgnoreCase(data + name_start, name_end - name_start, "content-length")) {
          if (have_length) {
            res->error = FramerError::kProtocol;
            return -1;
          }
          have_length = true;
          size_t v = (colon - data) + 1, v_end = eol;
          while (v < v_end && IsSpace(data[v])) v++;
          while (v_end > v && IsSpace(data[v_end - 1])) v_end--;
          if (v == v_end) {
            res->error = FramerError::kProtocol;
            return -1;
          }
          for (size_t k = v; k < v_end; k++) {
            if (data[k] < '0' || data[k] > '9') {
              res->error = FramerError::kProtocol;
              return -1;
            }
            // Saturate instead of overflowing: anything past the limit is too large either way. The
            // first test is for a limit near SIZE_MAX, where length * 10 could wrap to a small value.
            if (length > (UINT64_MAX - 9) / 10) too_large = true;
            if (too_large) continue;
            length = length * 10 + (data[k] - '0');
            if (length > max_frame_size_) too_large = true;
          }
        }
        line = eol + 2;
      }
      if (!have_length) {
        res->error = FramerError::kProtocol;
        return -1;
      }
      if (too_large) {
        res->error = FramerError::kFrameTooLarge;
        return -1;
      }
      if (len - end < length) {
        scanned_ = end - 4;
        res->pending_header = end;
        res->pending_payload = static_cast<size_t>(length);
        return 0;
      }
      *payload_off = end;
      *payload_len = static_cast<size_t>(length);
      *total = end + static_cast<size_t>(length);
      return 1;
    }
  }
  return 0;
}

}  // namespace ipc
