// FunctionRef: a non-owning reference to a callable, like C++26's
// std::function_ref. Two pointers, never an allocation; calling it costs one
// indirect call. It refers to the callable it was made from, so it must not
// outlive it: take it as a parameter, do not store it.
#pragma once

#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace cairn {

template <typename Signature>
class FunctionRef;

template <typename R, typename... Args>
class FunctionRef<R(Args...)> {
 public:
  // From any callable object (a lambda, a function object, a function
  // pointer) that can be called with Args and returns something convertible to R.
  template <typename F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, FunctionRef> && std::is_object_v<std::remove_reference_t<F>> &&
             std::is_invocable_r_v<R, F&, Args...>)
  FunctionRef(F&& f) noexcept  // NOLINT(google-explicit-constructor): made implicitly at calls
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* object, Args... args) -> R {
          return std::invoke(*static_cast<std::remove_reference_t<F>*>(object), std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};

}  // namespace cairn
