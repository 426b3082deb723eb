// A port of Go's text/tabwriter (left-aligned, space padding), which kubectl prints its tables and
// `describe` output with, so that devicectl's columns line up exactly like kubectl's.
//
// Text is cells terminated by '\t'; the text after a line's last tab is not part of any column and
// is not padded. A column block is a run of consecutive lines that have a cell in that column;
// each block is as wide as its widest cell plus `padding` (at least `min_width`). Widths count
// UTF-8 code points. Unlike Go, trailing blanks of a line are dropped. Thread-compatible.
#ifndef DEVICEAPI_CLI_TABWRITER_H_
#define DEVICEAPI_CLI_TABWRITER_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace deviceapi::cli {

class TabWriter {
 public:
  // kubectl's tables: GetNewTabWriter (minwidth 6, padding 3). kubectl describe: minwidth 0,
  // padding 2.
  static TabWriter ForTable() { return TabWriter(6, 3); }
  static TabWriter ForDescribe() { return TabWriter(0, 2); }

  TabWriter(std::size_t min_width, std::size_t padding) : min_width_(min_width), padding_(padding) {}

  // kubectl's RememberWidths: top-level columns never get narrower than they were in an
  // earlier Flush (for `get -w`, whose rows arrive one flush at a time).
  void set_remember_widths(bool remember) { remember_widths_ = remember; }

  // Buffers `text`; complete lines are formatted at Flush().
  void Write(std::string_view text) { buf_.append(text); }

  // Formats everything buffered and returns it; the buffer is then empty.
  std::string Flush();

 private:
  struct Cell {
    std::string text;
    std::size_t width = 0;
  };
  using Line = std::vector<Cell>;

  void Format(const std::vector<Line>& lines, std::size_t line0, std::size_t line1, std::string* out);
  void WriteLines(const std::vector<Line>& lines, std::size_t line0, std::size_t line1,
                  std::string* out) const;

  std::size_t min_width_;
  std::size_t padding_;
  bool remember_widths_ = false;
  std::string buf_;
  std::vector<std::size_t> widths_;
  std::vector<std::size_t> max_widths_;  // remembered, per column
};

// Number of UTF-8 code points in `s`.
std::size_t DisplayWidth(std::string_view s);

}  // namespace deviceapi::cli

#endif  // DEVICEAPI_CLI_TABWRITER_H_
