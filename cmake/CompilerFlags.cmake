# Warning and hardening flags live on one INTERFACE target that every fedc target links.
add_library(fedc_flags INTERFACE)
target_compile_options(fedc_flags INTERFACE
  -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes -Wcast-qual
  -Wconversion -Wsign-conversion
  -Wno-unused-parameter -fstack-protector-strong)
target_compile_definitions(fedc_flags INTERFACE _POSIX_C_SOURCE=200809L _DEFAULT_SOURCE)
# Warnings as errors: on in CI (scripts/test.sh), off by default so that a newer
# compiler's new warning does not stop a user's build. Model: curl's CURL_WERROR.
option(FEDC_WERROR "Treat compiler warnings as errors" OFF)
if(FEDC_WERROR)
  target_compile_options(fedc_flags INTERFACE -Werror)
endif()
if(NOT FEDC_SANITIZE AND NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
  target_compile_definitions(fedc_flags INTERFACE _FORTIFY_SOURCE=2)
endif()
if(FEDC_SANITIZE)
  target_compile_options(fedc_flags INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(fedc_flags INTERFACE -fsanitize=address,undefined -fno-sanitize-recover=all)
endif()
