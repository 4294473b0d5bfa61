# taskmesh — one entry point.
#   make            build everything (out of tree, under build/)
#   make run        embedded PostgreSQL + Kafka + the six daemons; prints the gateway URL
#   make test       unit, integration and system tests; ends with "N passed, N failed"
#   make test SANITIZE=1   the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   make check      format, static checks, docker-compose.yml validation
#   make bench      wrk against the gateway (not part of make test)
#   make deps       install missing Debian packages (apt-get)
#   make clean

.DEFAULT_GOAL := all
SHELL := /bin/bash

CC ?= cc
ifeq ($(SANITIZE),1)
VARIANT := san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT := -O1
else
VARIANT := rel
SANFLAGS :=
OPT := -O2
endif

B ?= build/$(VARIANT)
# `make V=1` shows every command
ifeq ($(V),1)
Q :=
else
Q := @
endif
GEN ?= build/gen
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)

CPPFLAGS := -D_GNU_SOURCE -Icommon -I$(GEN) -I$(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql) \
-DTM_DEFAULT_MIGRATIONS_DIR='"$(CURDIR)/migrations"' \
	-DTM_SOURCE_DIR_DEFAULT='"$(CURDIR)"'
CFLAGS := -std=c17 $(OPT) -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wno-unused-parameter -fno-strict-aliasing -pthread $(SANFLAGS) -MMD -MP
# generated protobuf-c code is not ours to lint
GEN_CFLAGS := -std=c17 $(OPT) -g -Wall -Werror -pthread $(SANFLAGS) -MMD -MP
LDFLAGS := -pthread $(SANFLAGS)
LDLIBS := -lnng -lrdkafka -lpq -lprotobuf-c -lcjson -lmicrohttpd -lcurl -lssl -lcrypto -largon2 -lm

# ---- protobuf contracts -------------------------------------------------------
PROTOS := $(sort $(wildcard proto/taskmesh/v1/*.proto))
TEST_PROTOS := $(sort $(wildcard tests/proto/taskmesh/test/v1/*.proto))
PB_C := $(patsubst proto/%.proto,$(GEN)/%.pb-c.c,$(PROTOS))
PB_H := $(PB_C:.c=.h)
TPB_C := $(patsubst tests/proto/%.proto,$(GEN)/%.pb-c.c,$(TEST_PROTOS))
TPB_H := $(TPB_C:.c=.h)

$(GEN)/taskmesh/v1/%.pb-c.c $(GEN)/taskmesh/v1/%.pb-c.h: proto/taskmesh/v1/%.proto
	@mkdir -p $(GEN)
	@echo "  PROTO  $<"
	$(Q)protoc-c --proto_path=proto --c_out=$(GEN) $<

$(GEN)/taskmesh/test/v1/%.pb-c.c $(GEN)/taskmesh/test/v1/%.pb-c.h: tests/proto/taskmesh/test/v1/%.proto
	@mkdir -p $(GEN)
	@echo "  PROTO  $<"
	$(Q)protoc-c --proto_path=tests/proto --c_out=$(GEN) $<

# The version lives in one generated header, rewritten only when it changes, so
# a new commit recompiles the few files that print it and nothing else.
VERSION_H := $(GEN)/tm_version.h
$(VERSION_H): FORCE
	@mkdir -p $(@D)
	@v='#define TM_VERSION "$(VERSION)"'; [ -f $@ ] && [ "$$(cat $@)" = "$$v" ] || echo "$$v" > $@
.PHONY: FORCE
FORCE:

# ---- libtaskmesh ---------------------------------------------------------------
COMMON_SRC := $(sort $(wildcard common/*.c))
COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/obj/%.o) $(PB_C:$(GEN)/%.c=$(B)/obj/gen/%.o)
LIB := $(B)/lib/libtaskmesh.a

$(B)/obj/gen/%.o: $(GEN)/%.c | $(PB_H) $(TPB_H) $(VERSION_H)
	@mkdir -p $(@D)
	@echo "  CC     $<"
	$(Q)$(CC) $(CPPFLAGS) $(GEN_CFLAGS) -c -o $@ $<

$(B)/obj/%.o: %.c | $(PB_H) $(TPB_H) $(VERSION_H)
	@mkdir -p $(@D)
	@echo "  CC     $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(COMMON_OBJ)
	@mkdir -p $(@D)
	@echo "  AR     $@"
	$(Q)rm -f $@ && ar rcs $@ $^

# ---- daemons -----------------------------------------------------------------
SERVICES := gateway projects matching payments messaging learning
DAEMONS := $(SERVICES:%=$(B)/bin/tm-%) $(B)/bin/tm-devkafka

define daemon_rule
$(1)_OBJ := $$(patsubst %.c,$(B)/obj/%.o,$$(sort $$(wildcard services/$(1)/*.c)))
$(B)/bin/tm-$(1): $$($(1)_OBJ) $(LIB)
	@mkdir -p $$(@D)
	@echo "  LD     $$@"
	$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call daemon_rule,$(s))))

DEVKAFKA_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(sort $(wildcard deploy/devkafka/*.c)))
$(B)/bin/tm-devkafka: $(DEVKAFKA_OBJ) $(LIB)
	@mkdir -p $(@D)
	@echo "  LD     $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# ---- tests -------------------------------------------------------------------
SUPPORT_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(sort $(wildcard tests/support/*.c))) \
	$(TPB_C:$(GEN)/%.c=$(B)/obj/gen/%.o)
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c tests/integration/test_*.c tests/system/test_*.c))
TEST_BIN := $(patsubst tests/%.c,$(B)/tests/%,$(TEST_SRC))

# tests/unit/test_<service>_*.c also link that service's objects (but main.o),
# so domain rules are tested directly.
test_service = $(firstword $(filter $(SERVICES),$(word 2,$(subst _, ,$(notdir $(1))))))
define test_rule
$(B)/tests/$(1): $(B)/obj/tests/$(1).o $(SUPPORT_OBJ) \
		$(filter-out %/main.o,$($(call test_service,$(1))_OBJ)) $(LIB)
	@mkdir -p $$(@D)
	@echo "  LD     $$@"
	$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS) -lcmocka
endef
$(foreach t,$(TEST_SRC:tests/%.c=%),$(eval $(call test_rule,$(t))))

# ---- benchmarks ----------------------------------------------------------------
# ---- targets -------------------------------------------------------------------
.PHONY: all build deps run test check fmt bench clean tests
# Installing missing packages comes first, then the (parallel) build.
all:
	@bash deploy/deps.sh --quiet
	@$(MAKE) --no-print-directory build

build: $(DAEMONS)

tests: build $(TEST_BIN)

deps:
	@bash deploy/deps.sh

run: all
	@bash deploy/devstack run

test:
	@bash deploy/deps.sh --quiet
	@$(MAKE) --no-print-directory tests
	@bash tests/run.sh $(B)

check:
	@bash deploy/deps.sh --quiet
	@bash deploy/check.sh

fmt:
	@for f in $$(git ls-files --cached --others --exclude-standard '*.c' '*.h'); do \
		[ -f "$$f" ] && echo "$$f"; done | xargs -r clang-format -i

bench: all
	@bash bench/run.sh $(B)

clean:
	rm -rf build

.SECONDARY:
-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
