// A tiny JSON reader for the golden-image manifest (objects, arrays, strings, integers, null, bools).
// Integers are kept exactly as unsigned 64-bit (negative ones as signed).
#ifndef FRAMEBRIDGE_TESTS_JSON_HPP
#define FRAMEBRIDGE_TESTS_JSON_HPP

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace fbjson {

struct Value {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  bool b = false;
  bool negative = false;
  std::uint64_t u = 0;
  double d = 0;
  std::string s;
  std::vector<Value> a;
  std::map<std::string, Value> o;

  bool is_null() const { return kind == kNull; }
  const Value& operator[](const std::string& k) const {
    static const Value null;
    auto it = o.find(k);
    return it == o.end() ? null : it->second;
  }
  bool has(const std::string& k) const { return o.count(k) != 0; }
};

class Parser {
 public:
  explicit Parser(const std::string& text) : t_(text) {}
  bool Parse(Value* out, std::string* err) {
    if (!ParseValue(out) || (Skip(), i_ != t_.size())) {
      *err = "JSON error at byte " + std::to_string(i_);
      return false;
    }
    return true;
  }

 private:
  void Skip() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\n' || t_[i_] == '\r' || t_[i_] == '\t')) ++i_;
  }
  bool Lit(const char* w) {
    std::size_t n = std::char_traits<char>::length(w);
    if (t_.compare(i_, n, w) != 0) return false;
    i_ += n;
    return true;
  }
  bool ParseString(std::string* s) {
    if (t_[i_] != '"') return false;
    ++i_;
    while (i_ < t_.size() && t_[i_] != '"') {
      char c = t_[i_++];
      if (c == '\\') {
        if (i_ >= t_.size()) return false;
        char e = t_[i_++];
        switch (e) {
          case 'n': s->push_back('\n'); break;
          case 't': s->push_back('\t'); break;
          case 'r': s->push_back('\r'); break;
          case 'b': s->push_back('\b'); break;
          case 'f': s->push_back('\f'); break;
          case 'u': {
            if (i_ + 4 > t_.size()) return false;
            unsigned cp = static_cast<unsigned>(std::stoul(t_.substr(i_, 4), nullptr, 16));
            i_ += 4;
            if (cp < 0x80) {
              s->push_back(static_cast<char>(cp));
            } else if (cp < 0x800) {
              s->push_back(static_cast<char>(0xC0 | (cp >> 6)));
              s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
            } else {
              s->push_back(static_cast<char>(0xE0 | (cp >> 12)));
              s->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
              s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
            }
            break;
          }
          default: s->push_back(e);
        }
      } else {
        s->push_back(c);
      }
    }
    if (i_ >= t_.size()) return false;
    ++i_;
    return true;
  }
  bool ParseValue(Value* v) {
    Skip();
    if (i_ >= t_.size()) return false;
    char c = t_[i_];
    if (c == '{') {
      v->kind = Value::kObject;
      ++i_;
      Skip();
      if (i_ < t_.size() && t_[i_] == '}') return ++i_, true;
      for (;;) {
        Skip();
        std::string k;
        if (i_ >= t_.size() || !ParseString(&k)) return false;
        Skip();
        if (i_ >= t_.size() || t_[i_++] != ':') return false;
        if (!ParseValue(&v->o[k])) return false;
        Skip();
        if (i_ >= t_.size()) return false;
        if (t_[i_] == ',') { ++i_; continue; }
        if (t_[i_] == '}') return ++i_, true;
        return false;
      }
    }
    if (c == '[') {
      v->kind = Value::kArray;
      ++i_;
      Skip();
      if (i_ < t_.size() && t_[i_] == ']') return ++i_, true;
      for (;;) {
        v->a.emplace_back();
        if (!ParseValue(&v->a.back())) return false;
        Skip();
        if (i_ >= t_.size()) return false;
        if (t_[i_] == ',') { ++i_; continue; }
        if (t_[i_] == ']') return ++i_, true;
        return false;
      }
    }
    if (c == '"') {
      v->kind = Value::kString;
      return ParseString(&v->s);
    }
    if (Lit("null")) return v->kind = Value::kNull, true;
    if (Lit("true")) return v->kind = Value::kBool, v->b = true, true;
    if (Lit("false")) return v->kind = Value::kBool, v->b = false, true;
    if (c == '-' || (c >= '0' && c <= '9')) {
      v->kind = Value::kNumber;
      std::size_t start = i_;
      if (c == '-') v->negative = true, ++i_;
      while (i_ < t_.size() && t_[i_] >= '0' && t_[i_] <= '9') v->u = v->u * 10 + static_cast<std::uint64_t>(t_[i_++] - '0');
      while (i_ < t_.size() && (t_[i_] == '.' || t_[i_] == 'e' || t_[i_] == 'E' || t_[i_] == '+' || t_[i_] == '-' ||
                                (t_[i_] >= '0' && t_[i_] <= '9'))) {
        ++i_;
      }
      v->d = std::stod(t_.substr(start, i_ - start));
      return true;
    }
    return false;
  }
  const std::string& t_;
  std::size_t i_ = 0;
};

}  // namespace fbjson

#endif
