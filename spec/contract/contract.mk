# Contract area (spec/contract): generated files that must follow the
# vendored OpenAPI contract. See spec/contract/NOTES.md.
#
#   make schema   regenerate lua/kadoa/schema.lua from crawler.openapi.json
#                 (spec/body_spec.lua fails until this is run after the
#                 contract changes)

.PHONY: schema

schema: spec/contract/gen_schema.lua spec/contract/crawler.openapi.json
	lua5.4 spec/contract/gen_schema.lua spec/contract/crawler.openapi.json > lua/kadoa/schema.lua.tmp
	mv lua/kadoa/schema.lua.tmp lua/kadoa/schema.lua
