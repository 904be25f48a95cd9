-- wrk script: small-window TAXII 1.1 Poll_Requests, cycling through a list of windows.
-- Arguments (after --): WINDOWS_FILE COLLECTION AUTHORIZATION_VALUE
-- WINDOWS_FILE has one "begin end" pair of timestamps per line.
-- A response that is not HTTP 200 with a Poll_Response counts as bad; done() prints the total.

local bodies = {}
local counter = 0
bad = 0

local ns = "http://taxii.mitre.org/messages/taxii_xml_binding-1.1"

function init(args)
   local file = assert(io.open(args[1], "r"))
   for line in file:lines() do
      local b, e = line:match("^(%S+)%s+(%S+)$")
      if b then
         bodies[#bodies + 1] = string.format(
            '<taxii_11:Poll_Request xmlns:taxii_11="%s" message_id="w%d" collection_name="%s">'
            .. '<taxii_11:Exclusive_Begin_Timestamp>%s</taxii_11:Exclusive_Begin_Timestamp>'
            .. '<taxii_11:Inclusive_End_Timestamp>%s</taxii_11:Inclusive_End_Timestamp>'
            .. '<taxii_11:Poll_Parameters allow_asynch="false">'
            .. '<taxii_11:Response_Type>FULL</taxii_11:Response_Type>'
            .. '</taxii_11:Poll_Parameters></taxii_11:Poll_Request>',
            ns, #bodies + 1, args[2], b, e)
      end
   end
   file:close()
   assert(#bodies > 0, "no windows in " .. args[1])
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/xml"
   wrk.headers["Accept"] = "application/xml"
   wrk.headers["X-TAXII-Content-Type"] = "urn:taxii.mitre.org:message:xml:1.1"
   wrk.headers["X-TAXII-Accept"] = "urn:taxii.mitre.org:message:xml:1.1"
   wrk.headers["X-TAXII-Services"] = "urn:taxii.mitre.org:services:1.1"
   wrk.headers["X-TAXII-Protocol"] = "urn:taxii.mitre.org:protocol:https:1.0"
   wrk.headers["Authorization"] = args[3]
   counter = math.random(#bodies)
end

function request()
   counter = counter % #bodies + 1
   return wrk.format(nil, nil, nil, bodies[counter])
end

function response(status, headers, body)
   if status ~= 200 or not body:find("Poll_Response", 1, true) then
      bad = bad + 1
   end
end

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function done(summary, latency, requests)
   local total = 0
   for _, t in ipairs(threads) do
      total = total + t:get("bad")
   end
   io.write(string.format("bad_responses %d\n", total))
end
