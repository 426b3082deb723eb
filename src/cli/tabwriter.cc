#include "cli/tabwriter.h"

#include <algorithm>

namespace deviceapi::cli {

std::size_t DisplayWidth(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;  // count lead bytes only
  }
  return n;
}

std::string TabWriter::Flush() {
  // Complete lines only; an unterminated last line stays buffered.
  const std::size_t end = buf_.rfind('\n');
  if (end == std::string::npos) return "";
  std::vector<Line> lines;
  Line current;
  std::string cell;
  for (std::size_t i = 0; i <= end; ++i) {
    const char c = buf_[i];
    if (c != '\t' && c != '\n') {
      cell.push_back(c);
      continue;
    }
    current.push_back(Cell{cell, DisplayWidth(cell)});
    cell.clear();
    if (c == '\n') {
      lines.push_back(std::move(current));
      current.clear();
    }
  }
  buf_.erase(0, end + 1);
  std::string out;
  widths_.clear();
  Format(lines, 0, lines.size(), &out);
  return out;
}

// Go's tabwriter.format: recursively finds the column blocks of column len(widths_).
void TabWriter::Format(const std::vector<Line>& lines, std::size_t line0, std::size_t line1,
                       std::string* out) {
  const std::size_t column = widths_.size();
  for (std::size_t i = line0; i < line1; ++i) {
    if (column + 1 >= lines[i].size()) continue;
    // A cell in this column: the lines above the block are done.
    WriteLines(lines, line0, i, out);
    line0 = i;
    std::size_t width = min_width_;
    for (; i < line1; ++i) {
      if (column + 1 >= lines[i].size()) break;
      width = std::max(width, lines[i][column].width + padding_);
    }
    if (remember_widths_) {
      if (max_widths_.size() <= column) max_widths_.resize(column + 1, 0);
      if (width > max_widths_[column]) {
        max_widths_[column] = width;
      } else {
        width = max_widths_[column];
      }
    }
    widths_.push_back(width);
    Format(lines, line0, i, out);
    widths_.pop_back();
    // Line `i` (if any) ended the block, so it has no cell here: the loop may skip it.
    line0 = i;
  }
  WriteLines(lines, line0, line1, out);
}

void TabWriter::WriteLines(const std::vector<Line>& lines, std::size_t line0, std::size_t line1,
                           std::string* out) const {
  for (std::size_t i = line0; i < line1; ++i) {
    const Line& line = lines[i];
    for (std::size_t j = 0; j < line.size(); ++j) {
      out->append(line[j].text);
      if (j < widths_.size() && widths_[j] > line[j].width) out->append(widths_[j] - line[j].width, ' ');
    }
    // Unlike Go's tabwriter, no trailing blanks (an empty last column): they only hurt diffs.
    while (!out->empty() && out->back() == ' ') out->pop_back();
    out->push_back('\n');
  }
}

}  // namespace deviceapi::cli
