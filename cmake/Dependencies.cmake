# Debian packages listed in DESIGN.md; scripts/setup.sh installs them.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
# Paho's CMake config references OpenSSL::SSL without finding it: find OpenSSL first.
find_package(OpenSSL REQUIRED)
find_package(eclipse-paho-mqtt-c 1.3 CONFIG REQUIRED)
find_package(CURL REQUIRED)
pkg_search_module(MSGPACK REQUIRED IMPORTED_TARGET msgpack-c msgpack)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
pkg_check_modules(UUID REQUIRED IMPORTED_TARGET uuid)
pkg_check_modules(INIH REQUIRED IMPORTED_TARGET inih)
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
# zlib1g-dev: gzip'd IDX image sets (node/dataset_idx.c).
find_package(ZLIB REQUIRED)
# libcsv-dev: the CSV reader of node/dataset_csv.c (no pkg-config file).
find_path(CSV_INCLUDE_DIR csv.h REQUIRED)
find_library(CSV_LIBRARY csv REQUIRED)
add_library(fedc_libcsv INTERFACE)
target_include_directories(fedc_libcsv INTERFACE ${CSV_INCLUDE_DIR})
target_link_libraries(fedc_libcsv INTERFACE ${CSV_LIBRARY})
# The seccomp filter of the plan's child (node/seccomp_policy.c).
pkg_check_modules(SECCOMP REQUIRED IMPORTED_TARGET libseccomp)
if(FEDC_BUILD_TESTS)
  pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
endif()
find_program(MOSQUITTO_EXECUTABLE mosquitto PATHS /usr/sbin /usr/local/sbin)
