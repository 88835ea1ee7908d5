#!/usr/bin/env python3
"""Cut the CloudStack 4.18 listApis dump down to the commands the simulator answers: those it implements, and
every list* command.

Usage: scripts/extract-api-catalog.py ../shared/reference/cloudstack-recorded/listApis-4.18.json
Writes Sources/CloudStackSimulator/Resources/apis.json (committed; rerun when the simulator grows).
"""
import json, sys, os

IMPLEMENTED = """listZones listHosts listCapacity listServiceOfferings listOsTypes listNetworks listCapabilities listApis
queryAsyncJobResult listAsyncJobs listVirtualMachines deployVirtualMachine startVirtualMachine stopVirtualMachine
destroyVirtualMachine listVolumes createConsoleEndpoint registerTemplate listTemplates updateTemplate
updateTemplatePermissions deleteTemplate createTemplate extractTemplate createTags deleteTags listTags listRegions
addRegion updateRegion removeRegion listAccounts createAccount listUsers registerUserKeys getUserKeys
associateIpAddress listPublicIpAddresses createPortForwardingRule listPortForwardingRules createFirewallRule
listFirewallRules deleteFirewallRule listConfigurations updateConfiguration disassociateIpAddress
deletePortForwardingRule registerSSHKeyPair deleteSSHKeyPair listSSHKeyPairs""".split()

dump = json.load(open(sys.argv[1]))
apis = {a["name"]: a for a in dump["api"]}
missing = [n for n in IMPLEMENTED if n not in apis]
if missing:
    sys.exit(f"not in the dump: {missing}")
# Every other list* command answers too (an empty list where the simulator models nothing).
names = IMPLEMENTED + [n for n in apis if n.startswith("list") and n not in IMPLEMENTED]
out = {"count": len(names), "api": [apis[n] for n in names]}
path = os.path.join(os.path.dirname(__file__), "..", "Sources", "CloudStackSimulator", "Resources", "apis.json")
with open(path, "w") as f:
    json.dump(out, f, separators=(",", ":"), sort_keys=False)
print(f"wrote {len(names)} APIs to {os.path.normpath(path)}")
