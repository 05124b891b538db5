#pragma once
// The minidl exception family. Every error minidl raises derives from minidl::Error, so
//   try { ... } catch (const md::Error& e) { fmt::print("{}\n", e.what()); }
// catches them all. Messages say what was given, what was expected, and where; where Keras
// has a message for the same mistake, minidl uses Keras's words.
#include <stdexcept>
#include <string>

namespace minidl {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A value is out of its allowed range or set (Keras/Python ValueError).
class ValueError : public Error {
 public:
  using Error::Error;
};

// Shapes do not fit together: broadcasting, reshape, matmul, layer inputs. Python code sees
// these as ValueError, so ShapeError is one.
class ShapeError : public ValueError {
 public:
  using ValueError::ValueError;
};

// An argument has the wrong type or dtype (Python TypeError).
class TypeError : public Error {
 public:
  using Error::Error;
};

// An index or axis is outside its range (Python IndexError).
class IndexError : public Error {
 public:
  using Error::Error;
};

// Something that exists in the API but is not available in this situation.
class NotImplementedError : public Error {
 public:
  using Error::Error;
};

// An object is asked for state it does not have yet (Keras AttributeError, e.g. `output`).
class AttributeError : public Error {
 public:
  using Error::Error;
};

// A file could not be read or written, or its contents are not what they should be.
class IOError : public Error {
 public:
  using Error::Error;
};

// A tensor's buffer could not be allocated (Python's MemoryError): usually a shape far larger
// than intended, e.g. from a damaged config.
class MemoryError : public Error {
 public:
  using Error::Error;
};

// A value became NaN or infinite where it must not: a loss under TerminateOnNaN({.raise_error =
// true}), or an op's output or gradient while md::debug::enable_check_numerics() is on (Python's
// FloatingPointError; Keras's TerminateOnNaN raises RuntimeError, TensorFlow's check_numerics
// InvalidArgumentError).
class FloatingPointError : public Error {
 public:
  using Error::Error;
};

}  // namespace minidl
