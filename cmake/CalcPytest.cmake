# SPDX-License-Identifier: MIT
# calc_add_pytest(): the one way a test folder registers its pytest suites
# with ctest.
#
#   calc_add_pytest(<prefix> <suite>...
#                   [DIR <folder>]            # default: this folder
#                   [ENVIRONMENT <VAR=value>...]
#                   [TIMEOUT <seconds>]       # default 120
#                   [LABELS <label>...]
#                   [SKIP <reason>])          # register, but as skipped
#
# Each suite is the file <folder>/test_<suite>.py, run as the ctest
# <prefix><suite> (one ctest per file, so ctest -j runs them side by side).
#
# Skipped is skipped: a suite that cannot run is reported SKIPPED by ctest,
# never "Passed".  The pytest plugin cmake/calc_ctest.py turns "nothing
# ran" (every test skipped, or none collected: pytest's exit 5) into exit
# 77 (SKIP_RETURN_CODE) and prints each skip reason as "SKIPPED: ...".
# Without python3 and pytest, or with SKIP <reason> (a tool the folder
# needs is missing at configure time), the ctest only prints its reason
# and is reported skipped the same way.
include_guard(GLOBAL)

set(CALC_PYTEST_SKIP_CODE 77)
set(_calc_pytest_plugin_dir ${CMAKE_CURRENT_LIST_DIR})

# Checked once: a python3 earlier on PATH (pyenv, venv) may lack pytest.
if(CALC_PYTHON AND NOT DEFINED CACHE{CALC_HAVE_PYTEST})
  execute_process(COMMAND ${CALC_PYTHON} -c "import pytest"
                  RESULT_VARIABLE _calc_pytest_rc OUTPUT_QUIET ERROR_QUIET)
  if(_calc_pytest_rc EQUAL 0)
    set(CALC_HAVE_PYTEST ON CACHE INTERNAL "python3 can import pytest")
  else()
    set(CALC_HAVE_PYTEST OFF CACHE INTERNAL "python3 can import pytest")
  endif()
endif()

function(calc_add_pytest prefix)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "DIR;TIMEOUT;SKIP"
                        "ENVIRONMENT;LABELS")
  if(NOT arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "calc_add_pytest(${prefix}): no suite named")
  endif()
  if(NOT arg_DIR)
    set(arg_DIR ${CMAKE_CURRENT_SOURCE_DIR})
  endif()
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 120)
  endif()
  set(skip "${arg_SKIP}")
  if(NOT skip AND NOT CALC_HAVE_PYTEST)
    set(skip "python3 with pytest not found (Debian: python3-pytest)")
  endif()
  if(skip)
    message(STATUS "calc: ${prefix}* tests skipped: ${skip}")
  endif()

  foreach(suite IN LISTS arg_UNPARSED_ARGUMENTS)
    set(name ${prefix}${suite})
    set(file ${arg_DIR}/test_${suite}.py)
    if(NOT EXISTS ${file})
      message(FATAL_ERROR "calc_add_pytest: ${file} does not exist")
    endif()
    if(skip)
      add_test(NAME ${name}
               COMMAND ${CMAKE_COMMAND} -E echo "SKIPPED: ${skip}")
      set_tests_properties(${name} PROPERTIES
        SKIP_REGULAR_EXPRESSION "SKIPPED: ")
    else()
      add_test(NAME ${name}
               COMMAND ${CALC_PYTHON} -m pytest -q -rs -p no:cacheprovider
                       -p calc_ctest ${file})
      set_tests_properties(${name} PROPERTIES
        SKIP_RETURN_CODE ${CALC_PYTEST_SKIP_CODE}
        ENVIRONMENT "PYTHONPATH=${_calc_pytest_plugin_dir};PYTHONDONTWRITEBYTECODE=1;${arg_ENVIRONMENT}")
    endif()
    set_tests_properties(${name} PROPERTIES TIMEOUT ${arg_TIMEOUT})
    if(arg_LABELS)
      set_tests_properties(${name} PROPERTIES LABELS "${arg_LABELS}")
    endif()
  endforeach()
endfunction()
