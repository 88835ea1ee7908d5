import Foundation

/// The OpenAPI 3.1 description served at `/openapi.yaml`. A test checks that it lists exactly the
/// routes the server answers and that responses carry the fields it calls required.
enum OpenAPIDocument {
    /// The document with `serverURL` as its server.
    /// The document for clients reaching the server at `serverURL`, each operation with its access policy as
    /// `x-mclouds-policy` (taken from the route table, so the document never disagrees with what is enforced).
    static func text(serverURL: String, routes: [RouteDescription] = MCloudsServer.routes) -> String {
        let policies = Dictionary(routes.map { ("\($0.method.lowercased()) \($0.path)", $0.policy) }, uniquingKeysWith: { first, _ in first })
        var out: [Substring] = []
        var path = ""
        var inPaths = false
        for line in template.replacingOccurrences(of: "url: SERVER_URL", with: "url: \(serverURL)").split(
            separator: "\n", omittingEmptySubsequences: false)
        {
            out.append(line)
            if line == "paths:" { inPaths = true } else if !line.hasPrefix(" ") && !line.isEmpty { inPaths = false }
            guard inPaths else { continue }
            if line.hasPrefix("  /") && !line.hasPrefix("   ") {
                path = String(line.dropFirst(2).dropLast())
            } else if line.hasPrefix("    ") && !line.hasPrefix("     "), line.hasSuffix(":"),
                let policy = policies["\(line.dropFirst(4).dropLast()) \(path)"]
            {
                out.append("      x-mclouds-policy: \"\(policy)\"")
            }
        }
        return out.joined(separator: "\n")
    }

    private static let template = """
        openapi: 3.1.0
        info:
          title: mClouds API
          version: 1.0.0
          description: |
            The control plane of a federation of Apache CloudStack clouds: the global template repository
            (the signed catalog, signed manifests, content-addressed chunks, the publish calls), the region
            registry and its sync, and the federation dashboard. Changes need an admin token
            (`Authorization: Bearer TOKEN`).
            Every error is JSON: `{"error": {"status": 404, "message": "..."}}`. Every GET also answers HEAD
            (same status and headers, no body); a known path asked with another method answers 405 with `Allow`.
        servers:
          - url: SERVER_URL
        components:
          securitySchemes:
            adminToken:
              type: http
              scheme: bearer
          parameters:
            name:
              name: name
              in: path
              required: true
              description: Template name (letters, digits, '.', '_', '-'; no '..').
              schema: {type: string, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'}
            version:
              name: version
              in: path
              required: true
              schema: {type: string, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'}
            digest:
              name: digest
              in: path
              required: true
              description: SHA-256 of the chunk's bytes, 64 lower-case hex digits.
              schema: {type: string, pattern: '^[0-9a-f]{64}$'}
          responses:
            Error:
              description: The call failed; the message says what to do.
              content:
                application/json:
                  schema: {$ref: '#/components/schemas/Error'}
          schemas:
            Token:
              type: object
              properties:
                id: {type: string}
                name: {type: string}
                role: {type: string}
                scope: {type: string}
                created: {type: string}
                expires: {type: string}
                lastUsed: {type: string}
                revoked: {type: string}
            User:
              type: object
              required: [username, role]
              properties:
                username: {type: string}
                displayName: {type: string}
                email: {type: string}
                role: {type: string}
                scope: {type: string, description: A partner admin's region id; a teacher's or student's home region.}
                created: {type: string}
                passwordChanged: {type: string}
                disabled: {type: string}
                lastLogin: {type: string}
            Error:
              type: object
              required: [error]
              properties:
                error:
                  type: object
                  required: [status, message]
                  properties:
                    status: {type: integer}
                    message: {type: string}
                    missing:
                      type: array
                      description: Chunks a commit still lacks (409 on commit).
                      items: {type: string}
            RolloutStatus:
              type: object
              required: [states]
              properties:
                states:
                  type: array
                  items:
                    type: object
                    required: [site, template, version, state, bytesDownloaded, bytesReused]
                    properties:
                      site: {type: string}
                      template: {type: string}
                      version: {type: string}
                      state: {type: string}
                      bytesDownloaded: {type: integer, format: int64}
                      bytesReused: {type: integer, format: int64}
                      error: {type: string}
                      reported: {type: string, format: date-time}
            ChunkingParameters:
              type: object
              description: Content-defined chunk sizes in bytes (FastCDC, normalized level 2).
              required: [minimum, average, maximum]
              properties:
                minimum: {type: integer}
                average: {type: integer}
                maximum: {type: integer}
            ChunkReference:
              type: object
              required: [digest, offset, length]
              properties:
                digest: {type: string}
                offset: {type: integer, format: int64}
                length: {type: integer}
            TemplateMetadata:
              type: object
              required: [name, version, format, hypervisor, osType, displayText, software]
              properties:
                name: {type: string}
                version: {type: string}
                format: {type: string, enum: [QCOW2, RAW, VHD, OVA]}
                hypervisor: {type: string, enum: [KVM, XenServer, VMware, Hyperv]}
                osType: {type: string, description: CloudStack OS type name, e.g. Ubuntu 22.04 LTS}
                displayText: {type: string}
                software: {type: array, items: {type: string}}
                minimumCPUs: {type: integer}
                minimumMemoryMB: {type: integer}
                expires: {type: string, format: date-time}
            VersionInfo:
              type: object
              required: [name, version, state, format, hypervisor, osType, displayText, size, sha256, chunks, manifestDigest, published, changed]
              properties:
                name: {type: string}
                version: {type: string}
                state: {type: string, enum: [published, deprecated, withdrawn]}
                format: {type: string}
                hypervisor: {type: string}
                osType: {type: string}
                displayText: {type: string}
                size: {type: integer, format: int64}
                sha256: {type: string}
                chunks: {type: integer}
                manifestDigest: {type: string}
                published: {type: string, format: date-time}
                changed: {type: string, format: date-time}
            TemplateSummary:
              type: object
              required: [name, versions]
              properties:
                name: {type: string}
                versions: {type: array, items: {$ref: '#/components/schemas/VersionInfo'}}
            TemplateList:
              type: object
              required: [templates]
              properties:
                templates: {type: array, items: {$ref: '#/components/schemas/TemplateSummary'}}
            Signatures:
              type: array
              items:
                type: object
                required: [keyid, sig]
                properties:
                  keyid: {type: string, description: SHA-256 of the raw Ed25519 public key}
                  sig: {type: string, description: base64 Ed25519 signature of the compact JSON of `signed`}
            SignedManifest:
              type: object
              required: [signed, signatures]
              properties:
                signatures: {$ref: '#/components/schemas/Signatures'}
                signed:
                  type: object
                  required: [name, version, format, hypervisor, osType, displayText, software, size, sha256, chunking, chunks, created, publisherKeyID]
                  properties:
                    name: {type: string}
                    version: {type: string}
                    format: {type: string}
                    hypervisor: {type: string}
                    osType: {type: string}
                    displayText: {type: string}
                    software: {type: array, items: {type: string}}
                    minimumCPUs: {type: integer}
                    minimumMemoryMB: {type: integer}
                    size: {type: integer, format: int64}
                    sha256: {type: string}
                    chunking: {$ref: '#/components/schemas/ChunkingParameters'}
                    chunks: {type: array, items: {$ref: '#/components/schemas/ChunkReference'}}
                    created: {type: string, format: date-time}
                    publisherKeyID: {type: string}
                    expires: {type: string, format: date-time}
            SignedCatalog:
              type: object
              required: [signed, signatures]
              properties:
                signatures: {$ref: '#/components/schemas/Signatures'}
                signed:
                  type: object
                  required: [serial, issued, expires, entries]
                  properties:
                    serial: {type: integer, description: Only grows; readers refuse a lower one than they saw.}
                    issued: {type: string, format: date-time}
                    expires: {type: string, format: date-time}
                    entries:
                      type: array
                      items:
                        type: object
                        required: [name, version, manifestDigest, size, deprecated]
                        properties:
                          name: {type: string}
                          version: {type: string}
                          manifestDigest: {type: string, description: SHA-256 of the signed manifest as served}
                          size: {type: integer, format: int64}
                          deprecated: {type: boolean}
            PublishReport:
              type: object
              required: [name, version, size, sha256, chunks, newChunks, newBytes, alreadyPublished, manifestDigest, catalogSerial]
              properties:
                name: {type: string}
                version: {type: string}
                size: {type: integer, format: int64}
                sha256: {type: string}
                chunks: {type: integer}
                newChunks: {type: integer}
                newBytes: {type: integer, format: int64}
                alreadyPublished: {type: boolean}
                manifestDigest: {type: string}
                catalogSerial: {type: integer}
            CommitRequest:
              type: object
              required: [metadata, sha256, size, chunks]
              properties:
                metadata: {$ref: '#/components/schemas/TemplateMetadata'}
                sha256: {type: string}
                size: {type: integer, format: int64}
                chunks: {type: array, items: {$ref: '#/components/schemas/ChunkReference'}}
            Region:
              type: object
              description: A CloudStack installation of the federation. Its secret key is never returned.
              required: [id, name, endpoint, portableIPEnabled, gslbEnabled, apiKey, networks, verifyTLS]
              properties:
                id: {type: integer, description: The installation's CloudStack region id.}
                name: {type: string}
                endpoint: {type: string, description: 'API URL, e.g. https://cloud.example.org/client/api'}
                portableIPEnabled: {type: boolean}
                gslbEnabled: {type: boolean}
                apiKey: {type: string, description: The federation admin account's API key there.}
                contact: {type: string}
                notes: {type: string}
                networks: {type: array, items: {type: string}, description: 'The partner''s networks (CIDR): its IP locks admit them.'}
                verifyTLS: {type: boolean, description: 'false: the API certificate is not verified (logged at every use).'}
            NewRegion:
              type: object
              required: [id, name, endpoint, apiKey, secretKey]
              properties:
                id: {type: integer}
                name: {type: string}
                endpoint: {type: string}
                portableIPEnabled: {type: boolean}
                gslbEnabled: {type: boolean}
                apiKey: {type: string}
                secretKey: {type: string, description: Stored encrypted; never returned.}
                contact: {type: string}
                notes: {type: string}
                networks: {type: array, items: {type: string}, description: 'The partner''s networks (CIDR): its IP locks admit them.'}
                verifyTLS: {type: boolean, description: 'false: the API certificate is not verified (logged at every use).'}
            RegionChanges:
              type: object
              description: Fields to change; absent fields stay as they are.
              properties:
                name: {type: string}
                endpoint: {type: string}
                portableIPEnabled: {type: boolean}
                gslbEnabled: {type: boolean}
                apiKey: {type: string}
                secretKey: {type: string}
                contact: {type: string}
                notes: {type: string}
                networks: {type: array, items: {type: string}, description: 'The partner''s networks (CIDR): its IP locks admit them.'}
                verifyTLS: {type: boolean, description: 'false: the API certificate is not verified (logged at every use).'}
            RegionSyncReport:
              type: object
              required: [id, name, reachable, actions, removals, removalsHeld, applied, failures, drift]
              properties:
                id: {type: integer}
                name: {type: string}
                reachable: {type: boolean}
                ownRegionID: {type: integer, description: The installation's own region id as its regions table shows it.}
                actions: {type: array, description: The plan's additions and updates for this installation's regions table., items: {type: object}}
                removals: {type: array, description: Rows the registry does not list; removed only with allowRemovals., items: {type: object}}
                removalsHeld: {type: boolean, description: Removals were planned but not allowed.}
                idMismatch:
                  type: object
                  description: The registry's id for this installation is not its own; its plan is blocked until the registry is fixed.
                  required: [registry, installation]
                  properties:
                    registry: {type: integer}
                    installation: {type: integer}
                applied: {type: array, items: {type: object}}
                failures: {type: array, items: {type: string}}
                drift: {type: array, items: {type: string}}
                error: {type: string}
            CapacityFigure:
              type: object
              required: [used, total]
              properties:
                used: {type: integer, format: int64}
                total: {type: integer, format: int64}
            Capacities:
              type: object
              description: 'By resource: cpu (MHz), cpu_cores, memory, primary_storage, primary_storage_allocated, secondary_storage (bytes), public_ips.'
              additionalProperties: {$ref: '#/components/schemas/CapacityFigure'}
            RegionHealth:
              type: object
              required: [reachable, level, problems, checked]
              properties:
                reachable: {type: boolean}
                latencyMilliseconds: {type: number}
                cloudStackVersion: {type: string}
                certificate:
                  type: object
                  required: [subject, issuer, notAfter, daysLeft, trusted]
                  properties:
                    subject: {type: string}
                    issuer: {type: string}
                    notAfter: {type: string, format: date-time}
                    daysLeft: {type: integer}
                    trusted: {type: boolean}
                    trustError: {type: string}
                level: {type: string, enum: [ok, warning, error]}
                problems: {type: array, items: {type: string}}
                checked: {type: string, format: date-time}
                lastSuccess: {type: string, format: date-time}
            RegionSnapshot:
              type: object
              required: [regionID, regionName, collected, zones, hosts, capacity, virtualMachines, templates]
              properties:
                regionID: {type: integer}
                regionName: {type: string}
                collected: {type: string, format: date-time}
                zones: {type: array, items: {type: object}}
                hosts: {type: object}
                capacity: {$ref: '#/components/schemas/Capacities'}
                virtualMachines: {type: object}
                templates: {type: array, items: {type: object}}
            RegionStatus:
              type: object
              required: [id, name, endpoint, stale]
              properties:
                id: {type: integer}
                name: {type: string}
                endpoint: {type: string}
                health: {$ref: '#/components/schemas/RegionHealth'}
                snapshot: {$ref: '#/components/schemas/RegionSnapshot'}
                stale: {type: boolean, description: The last collection failed; the snapshot is older data, still counted.}
                ageSeconds: {type: integer}
            FederationSummary:
              type: object
              required: [generated, regions, totals, hosts, hostsUp, virtualMachines, runningVirtualMachines, staleRegions, missingRegions]
              properties:
                generated: {type: string, format: date-time}
                regions: {type: array, items: {$ref: '#/components/schemas/RegionStatus'}}
                totals: {$ref: '#/components/schemas/Capacities'}
                hosts: {type: integer}
                hostsUp: {type: integer}
                virtualMachines: {type: integer}
                runningVirtualMachines: {type: integer}
                staleRegions: {type: array, items: {type: string}}
                missingRegions: {type: array, items: {type: string}}
            CollectionReport:
              type: object
              required: [started, seconds, regions, failed]
              properties:
                started: {type: string, format: date-time}
                seconds: {type: number}
                regions: {type: integer}
                failed: {type: array, items: {type: string}}
            HistoryPoint:
              type: object
              required: [time, totals, runningVirtualMachines, virtualMachines]
              properties:
                time: {type: string, format: date-time}
                totals: {$ref: '#/components/schemas/Capacities'}
                runningVirtualMachines: {type: integer}
                virtualMachines: {type: integer}
                staleRegions: {type: array, description: Regions counted with their last figures in this collection., items: {type: string}}
        paths:
          /healthz:
            get:
              summary: Liveness.
              responses:
                '200':
                  description: The server runs.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [status]
                        properties:
                          status: {type: string}
          /openapi.yaml:
            get:
              summary: This document.
              responses:
                '200':
                  description: OpenAPI 3.1 in YAML.
                  content:
                    application/yaml: {}
          /api/v1/repository:
            get:
              summary: How this repository cuts images (publishers cut the same way) and the key it signs with.
              responses:
                '200':
                  description: Chunking parameters and publisher key.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [chunking, publisherKey, keyID]
                        properties:
                          chunking: {$ref: '#/components/schemas/ChunkingParameters'}
                          publisherKey: {type: string, description: base64 raw Ed25519 public key}
                          keyID: {type: string}
          /api/v1/sites/{site}/report:
            post:
              summary: A site agent's report after a pass (latest kept per site, template and version).
              security: [{adminToken: []}]
              parameters:
                - {name: site, in: path, required: true, schema: {type: string}}
              requestBody:
                required: true
                content:
                  application/json:
                    schema: {$ref: '#/components/schemas/RolloutStatus'}
              responses:
                '200':
                  description: The site's recorded states.
                  content:
                    application/json:
                      schema: {$ref: '#/components/schemas/RolloutStatus'}
                '400': {$ref: '#/components/responses/Error'}
                '401': {$ref: '#/components/responses/Error'}
          /api/v1/rollout:
            get:
              summary: Every site's latest state per template version (the template × site matrix).
              responses:
                '200':
                  description: The states.
                  content:
                    application/json:
                      schema: {$ref: '#/components/schemas/RolloutStatus'}
          /api/v1/tokens:
            get:
              summary: Every issued token (never its secret), newest first.
              security: [{adminToken: []}]
              responses:
                '200':
                  description: The tokens.
                  content:
                    application/json:
                      schema: {type: array, items: {$ref: '#/components/schemas/Token'}}
                '401': {$ref: '#/components/responses/Error'}
                '403': {$ref: '#/components/responses/Error'}
            post:
              summary: Issue a token (its secret is in this answer only).
              security: [{adminToken: []}]
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      type: object
                      required: [name, role]
                      properties:
                        name: {type: string, minLength: 1, maxLength: 64}
                        role: {type: string, enum: [federation-admin, partner-admin, teacher, student, site-agent]}
                        scope: {type: string, description: The region id of a partner admin; the site of a site agent.}
                        expiresDays: {type: integer, minimum: 1, maximum: 366, default: 90}
              responses:
                '201':
                  description: The token and its secret.
                  content:
                    application/json:
                      schema:
                        type: object
                        properties:
                          token: {$ref: '#/components/schemas/Token'}
                          secret: {type: string}
                '400': {$ref: '#/components/responses/Error'}
                '401': {$ref: '#/components/responses/Error'}
                '403': {$ref: '#/components/responses/Error'}
          /api/v1/tokens/{id}:
            delete:
              summary: Revoke a token at once.
              security: [{adminToken: []}]
              parameters:
                - {name: id, in: path, required: true, schema: {type: string}}
              responses:
                '204': {description: Revoked.}
                '401': {$ref: '#/components/responses/Error'}
                '403': {$ref: '#/components/responses/Error'}
                '404': {$ref: '#/components/responses/Error'}
          /api/v1/audit:
            get:
              summary: The audit log (hash-chained), oldest first.
              security: [{adminToken: []}]
              parameters:
                - {name: since, in: query, schema: {type: string}, description: Entries at or after this time.}
                - {name: actor, in: query, schema: {type: string}, description: One token id.}
                - {name: action, in: query, schema: {type: string}, description: Actions starting with this, e.g. POST /api/v1/regions.}
                - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 100000, default: 1000}}
              responses:
                '200':
                  description: The entries.
                  content:
                    application/json:
                      schema: {type: array, items: {type: object}}
                '401': {$ref: '#/components/responses/Error'}
                '403': {$ref: '#/components/responses/Error'}
          /api/v1/me:
            get:
              summary: Who the credentials stand for (id, role, scope).
              security: [{adminToken: []}]
              responses:
                '200':
                  description: The principal.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [id, role]
                        properties:
                          id: {type: string}
                          role: {type: string}
                          scope: {type: string}
                '401': {$ref: '#/components/responses/Error'}
          /api/v1/users:
            get:
              summary: The users (admins; a partner admin sees its region's).
              security: [{adminToken: []}]
              responses:
                '200':
                  description: The users, by name (never a password hash).
                  content:
                    application/json:
                      schema: {type: array, items: {$ref: '#/components/schemas/User'}}
                '401': {$ref: '#/components/responses/Error'}
                '403': {$ref: '#/components/responses/Error'}
            post:
              summary: Add a user (a partner admin adds teachers and students of its region).
              security: [{adminToken: []}]
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      type: object
                      required: [username, role, password]
                      properties:
                        username: {type: string, pattern: '^[a-z0-9][a-z0-9._-]{0,63}$'}
                        displayName: {type: string, maxLength: 128}
                        email: {type: string, maxLength: 254}
                        role: {type: string, enum: [federation-admin, partner-admin, teacher, student]}
                        region: {type: string, description: A partner admin's region id; a teacher's or student's home region.}
                        password: {type: string, minLength: 12, description: At most 72 bytes.}
              responses:
                '201':
                  description: The user.
                  content:
                    application/json:
                      schema: {$ref: '#/components/schemas/User'}
                '400': {$ref: '#/components/responses/Error'}
                '401': {$ref: '#/components/responses/Error'}
                '403': {$ref: '#/components/responses/Error'}
                '409': {$ref: '#/components/responses/Error'}
          /api/v1/users/{username}/disable:
            post:
              summary: 'Disable a user: its sessions end at once.'
              security: [{adminToken: []}]
              parameters:
                - {name: username, in: path, required: true, schema: {type: string}}
              responses:
                '204': {description: Done.}
                '401': {$ref: '#/components/responses/Error'}
                '403': {$ref: '#/components/responses/Error'}
                '404': {$ref: '#/components/responses/Error'}
          /api/v1/users/{username}/enable:
            post:
              summary: Enable a user again.
              security: [{adminToken: []}]
              parameters:
                - {name: username, in: path, required: true, schema: {type: string}}
              responses:
                '204': {description: Done.}
                '401': {$ref: '#/components/responses/Error'}
                '403': {$ref: '#/components/responses/Error'}
                '404': {$ref: '#/components/responses/Error'}
          /api/v1/users/{username}/password:
            post:
              summary: Set a user's password (ends its sessions, lifts a login lock).
              security: [{adminToken: []}]
              parameters:
                - {name: username, in: path, required: true, schema: {type: string}}
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      type: object
                      required: [password]
                      properties:
                        password: {type: string, minLength: 12}
              responses:
                '204': {description: Done.}
                '400': {$ref: '#/components/responses/Error'}
                '401': {$ref: '#/components/responses/Error'}
                '403': {$ref: '#/components/responses/Error'}
                '404': {$ref: '#/components/responses/Error'}
          /login:
            get:
              summary: 'The login form (sets the form''s CSRF cookie).'
              responses:
                '200':
                  description: The page.
                  content:
                    text/html: {schema: {type: string}}
                '403': {description: 'A form without its CSRF token, or not allowed (an HTML page).'}
                '303': {description: 'Not signed in: on to /login?next=….'}
            post:
              summary: 'Log in (form: username, password, csrf, next): sets the session cookie and redirects; 401 wrong, 429 throttled or locked.'
              requestBody:
                required: true
                content:
                  application/x-www-form-urlencoded: {schema: {type: object}}
              responses:
                '303': {description: 'Done: on to the next page.'}
                '403': {description: 'A form without its CSRF token, or not allowed (an HTML page).'}
                '400': {description: 'A field is wrong (the page says which).'}
                '401': {description: 'Not signed in, or a wrong password (an HTML page).'}
                '404': {description: 'No such user or token (an HTML page).'}
                '429': {description: 'Too many failed logins: wait (Retry-After), or locked.'}
          /logout:
            post:
              summary: 'End the session (form: csrf).'
              requestBody:
                required: true
                content:
                  application/x-www-form-urlencoded: {schema: {type: object}}
              responses:
                '303': {description: 'Done: on to the next page.'}
                '403': {description: 'A form without its CSRF token, or not allowed (an HTML page).'}
                '400': {description: 'A field is wrong (the page says which).'}
                '401': {description: 'Not signed in, or a wrong password (an HTML page).'}
                '404': {description: 'No such user or token (an HTML page).'}
                '429': {description: 'Too many failed logins: wait (Retry-After), or locked.'}
          /account:
            get:
              summary: 'One''s account: role, region, the password form.'
              responses:
                '200':
                  description: The page.
                  content:
                    text/html: {schema: {type: string}}
                '403': {description: 'A form without its CSRF token, or not allowed (an HTML page).'}
                '303': {description: 'Not signed in: on to /login?next=….'}
          /account/password:
            post:
              summary: 'Change one''s password (form: current, new, repeat, csrf); ends every session of the user.'
              requestBody:
                required: true
                content:
                  application/x-www-form-urlencoded: {schema: {type: object}}
              responses:
                '303': {description: 'Done: on to the next page.'}
                '403': {description: 'A form without its CSRF token, or not allowed (an HTML page).'}
                '400': {description: 'A field is wrong (the page says which).'}
                '401': {description: 'Not signed in, or a wrong password (an HTML page).'}
                '404': {description: 'No such user or token (an HTML page).'}
                '429': {description: 'Too many failed logins: wait (Retry-After), or locked.'}
          /admin/users:
            get:
              summary: 'The users page (admins; a partner admin sees its region''s).'
              responses:
                '200':
                  description: The page.
                  content:
                    text/html: {schema: {type: string}}
                '403': {description: 'A form without its CSRF token, or not allowed (an HTML page).'}
                '303': {description: 'Not signed in: on to /login?next=….'}
            post:
              summary: 'Add a user (form).'
              requestBody:
                required: true
                content:
                  application/x-www-form-urlencoded: {schema: {type: object}}
              responses:
                '201':
                  description: The page.
                  content:
                    text/html: {schema: {type: string}}
                '403': {description: 'A form without its CSRF token, or not allowed (an HTML page).'}
                '400': {description: 'A field is wrong (the page says which).'}
                '401': {description: 'Not signed in, or a wrong password (an HTML page).'}
                '404': {description: 'No such user or token (an HTML page).'}
                '429': {description: 'Too many failed logins: wait (Retry-After), or locked.'}
          /admin/users/{username}/disable:
            post:
              summary: 'Disable a user (form: csrf).'
              parameters:
                - {name: username, in: path, required: true, schema: {type: string}}
              requestBody:
                required: true
                content:
                  application/x-www-form-urlencoded: {schema: {type: object}}
              responses:
                '200':
                  description: The page.
                  content:
                    text/html: {schema: {type: string}}
                '403': {description: 'A form without its CSRF token, or not allowed (an HTML page).'}
                '400': {description: 'A field is wrong (the page says which).'}
                '401': {description: 'Not signed in, or a wrong password (an HTML page).'}
                '404': {description: 'No such user or token (an HTML page).'}
                '429': {description: 'Too many failed logins: wait (Retry-After), or locked.'}
          /admin/users/{username}/enable:
            post:
              summary: 'Enable a user again (form: csrf).'
              parameters:
                - {name: username, in: path, required: true, schema: {type: string}}
              requestBody:
                required: true
                content:
                  application/x-www-form-urlencoded: {schema: {type: object}}
              responses:
                '200':
                  description: The page.
                  content:
                    text/html: {schema: {type: string}}
                '403': {description: 'A form without its CSRF token, or not allowed (an HTML page).'}
                '400': {description: 'A field is wrong (the page says which).'}
                '401': {description: 'Not signed in, or a wrong password (an HTML page).'}
                '404': {description: 'No such user or token (an HTML page).'}
                '429': {description: 'Too many failed logins: wait (Retry-After), or locked.'}
          /admin/tokens:
            get:
              summary: 'The tokens page.'
              responses:
                '200':
                  description: The page.
                  content:
                    text/html: {schema: {type: string}}
                '403': {description: 'A form without its CSRF token, or not allowed (an HTML page).'}
                '303': {description: 'Not signed in: on to /login?next=….'}
          /admin/tokens/{id}/revoke:
            post:
              summary: 'Revoke a token (form: csrf).'
              parameters:
                - {name: id, in: path, required: true, schema: {type: string}}
              requestBody:
                required: true
                content:
                  application/x-www-form-urlencoded: {schema: {type: object}}
              responses:
                '200':
                  description: The page.
                  content:
                    text/html: {schema: {type: string}}
                '403': {description: 'A form without its CSRF token, or not allowed (an HTML page).'}
                '400': {description: 'A field is wrong (the page says which).'}
                '401': {description: 'Not signed in, or a wrong password (an HTML page).'}
                '404': {description: 'No such user or token (an HTML page).'}
                '429': {description: 'Too many failed logins: wait (Retry-After), or locked.'}
          /admin/audit:
            get:
              summary: 'The audit log page (latest 200 entries, chain verified).'
              responses:
                '200':
                  description: The page.
                  content:
                    text/html: {schema: {type: string}}
                '403': {description: 'A form without its CSRF token, or not allowed (an HTML page).'}
                '303': {description: 'Not signed in: on to /login?next=….'}
          /api/v1/templates:
            get:
              summary: Every template and its versions (withdrawn ones marked).
              responses:
                '200':
                  description: The templates.
                  content:
                    application/json:
                      schema: {$ref: '#/components/schemas/TemplateList'}
          /api/v1/templates/{name}:
            get:
              summary: One template and its versions.
              parameters: [{$ref: '#/components/parameters/name'}]
              responses:
                '200':
                  description: The template.
                  content:
                    application/json:
                      schema: {$ref: '#/components/schemas/TemplateSummary'}
                '400': {$ref: '#/components/responses/Error'}
                '404': {$ref: '#/components/responses/Error'}
          /api/v1/templates/{name}/versions/{version}/manifest:
            get:
              summary: 'The signed manifest of a version, byte for byte as signed (a partner-only template''s needs a token).'
              parameters: [{$ref: '#/components/parameters/name'}, {$ref: '#/components/parameters/version'}]
              responses:
                '200':
                  description: The signed manifest.
                  content:
                    application/json:
                      schema: {$ref: '#/components/schemas/SignedManifest'}
                '400': {$ref: '#/components/responses/Error'}
                '401': {$ref: '#/components/responses/Error'}
                '404': {$ref: '#/components/responses/Error'}
          /api/v1/catalog:
            get:
              summary: The current signed catalog (re-signed with a higher serial before it expires).
              responses:
                '200':
                  description: The signed catalog.
                  content:
                    application/json:
                      schema: {$ref: '#/components/schemas/SignedCatalog'}
          /api/v1/chunks/{digest}:
            get:
              summary: A chunk's bytes. Immutable, with ETag = digest and Range support.
              parameters:
                - {$ref: '#/components/parameters/digest'}
                - {name: Range, in: header, required: false, schema: {type: string, example: 'bytes=0-1023'}}
              responses:
                '200':
                  description: The whole chunk.
                  headers:
                    ETag: {schema: {type: string}}
                    Cache-Control: {schema: {type: string, const: 'public, max-age=31536000, immutable'}}
                    Content-Length: {schema: {type: integer}}
                  content:
                    application/octet-stream: {}
                '206':
                  description: The requested range.
                  headers:
                    Content-Range: {schema: {type: string}}
                  content:
                    application/octet-stream: {}
                '304': {description: Not modified (If-None-Match matched).}
                '400': {$ref: '#/components/responses/Error'}
                '401': {$ref: '#/components/responses/Error'}
                '404': {$ref: '#/components/responses/Error'}
                '416': {$ref: '#/components/responses/Error'}
            head:
              summary: Whether a chunk is stored, and its length.
              parameters: [{$ref: '#/components/parameters/digest'}]
              responses:
                '200': {description: Stored.}
                '400': {description: Not a SHA-256 digest.}
                '401': {description: 'A chunk only partner-only templates hold, asked for without a token.'}
                '404': {description: Not stored.}
            put:
              summary: Upload a chunk; its bytes must hash to the digest.
              security: [{adminToken: []}]
              parameters: [{$ref: '#/components/parameters/digest'}]
              requestBody:
                required: true
                content:
                  application/octet-stream: {}
              responses:
                '200': {description: Already stored.}
                '201': {description: Stored.}
                '400': {$ref: '#/components/responses/Error'}
                '401': {$ref: '#/components/responses/Error'}
                '403': {$ref: '#/components/responses/Error'}
                '413': {$ref: '#/components/responses/Error'}
          /api/v1/uploads/missing:
            post:
              summary: Which of these chunks the repository lacks (upload only those); ask in pages of at most 10,000 digests.
              security: [{adminToken: []}]
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      type: object
                      required: [digests]
                      properties:
                        digests: {type: array, maxItems: 10000, items: {type: string}}
              responses:
                '200':
                  description: The missing digests.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [missing]
                        properties:
                          missing: {type: array, items: {type: string}}
                '400': {$ref: '#/components/responses/Error'}
                '401': {$ref: '#/components/responses/Error'}
                '413': {$ref: '#/components/responses/Error'}
          /api/v1/templates/{name}/versions:
            post:
              summary: Commit a version whose chunks are all uploaded; it becomes visible in a new catalog.
              security: [{adminToken: []}]
              parameters: [{$ref: '#/components/parameters/name'}]
              requestBody:
                required: true
                content:
                  application/json:
                    schema: {$ref: '#/components/schemas/CommitRequest'}
              responses:
                '200':
                  description: This exact version was already published; nothing changed.
                  content:
                    application/json:
                      schema: {$ref: '#/components/schemas/PublishReport'}
                '201':
                  description: Published.
                  content:
                    application/json:
                      schema: {$ref: '#/components/schemas/PublishReport'}
                '400': {$ref: '#/components/responses/Error'}
                '401': {$ref: '#/components/responses/Error'}
                '409': {$ref: '#/components/responses/Error'}
          /api/v1/templates/{name}/access:
            post:
              summary: 'Make a template partner-only (its manifests and its own chunks then need a token) or public again.'
              security: [{adminToken: []}]
              parameters: [{$ref: '#/components/parameters/name'}]
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      type: object
                      required: [partnerOnly]
                      properties:
                        partnerOnly: {type: boolean}
              responses:
                '200':
                  description: The template's access now.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [partnerOnly]
                        properties:
                          partnerOnly: {type: boolean}
                '400': {$ref: '#/components/responses/Error'}
                '401': {$ref: '#/components/responses/Error'}
                '403': {$ref: '#/components/responses/Error'}
                '404': {$ref: '#/components/responses/Error'}
          /api/v1/templates/{name}/versions/{version}/state:
            post:
              summary: Deprecate (kept, flagged) or withdraw (taken out of the catalog) a version.
              security: [{adminToken: []}]
              parameters: [{$ref: '#/components/parameters/name'}, {$ref: '#/components/parameters/version'}]
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      type: object
                      required: [state]
                      properties:
                        state: {type: string, enum: [deprecated, withdrawn]}
              responses:
                '200':
                  description: Changed.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [name, version, state, catalogSerial]
                        properties:
                          name: {type: string}
                          version: {type: string}
                          state: {type: string}
                          catalogSerial: {type: integer}
                '400': {$ref: '#/components/responses/Error'}
                '401': {$ref: '#/components/responses/Error'}
                '404': {$ref: '#/components/responses/Error'}
                '409': {$ref: '#/components/responses/Error'}
          /:
            get:
              summary: The web dashboard (HTML, reloads every minute).
              responses:
                '200':
                  description: The page.
                  content:
                    text/html: {schema: {type: string}}
                '304': {description: 'Not modified: the ETag sent in If-None-Match is current.'}
          /metrics:
            get:
              summary: Prometheus metrics — per-region capacity, health, certificate days left, collector timings and errors.
              responses:
                '200':
                  description: Prometheus text format 0.0.4.
                  content:
                    text/plain: {schema: {type: string}}
          /api/v1/regions:
            get:
              summary: The registered regions (admins; a partner admin sees its own).
              security: [{adminToken: []}]
              responses:
                '200':
                  description: Every region, by id.
                  content:
                    application/json:
                      schema: {type: array, items: {$ref: '#/components/schemas/Region'}}
                '401': {$ref: '#/components/responses/Error'}
                '403': {$ref: '#/components/responses/Error'}
            post:
              summary: Register a region.
              security: [{adminToken: []}]
              requestBody:
                required: true
                content:
                  application/json:
                    schema: {$ref: '#/components/schemas/NewRegion'}
              responses:
                '201':
                  description: Registered.
                  content:
                    application/json:
                      schema: {$ref: '#/components/schemas/Region'}
                '400': {$ref: '#/components/responses/Error'}
                '401': {$ref: '#/components/responses/Error'}
                '409': {$ref: '#/components/responses/Error'}
          /api/v1/regions/{id}:
            parameters:
              - {name: id, in: path, required: true, description: The region's CloudStack region id., schema: {type: integer, minimum: 1}}
            get:
              summary: One region (admins; a partner admin its own).
              security: [{adminToken: []}]
              responses:
                '200':
                  description: The region.
                  content:
                    application/json:
                      schema: {$ref: '#/components/schemas/Region'}
                '400': {$ref: '#/components/responses/Error'}
                '401': {$ref: '#/components/responses/Error'}
                '403': {$ref: '#/components/responses/Error'}
                '404': {$ref: '#/components/responses/Error'}
            patch:
              summary: Change a region's fields.
              security: [{adminToken: []}]
              requestBody:
                required: true
                content:
                  application/json:
                    schema: {$ref: '#/components/schemas/RegionChanges'}
              responses:
                '200':
                  description: The region as stored.
                  content:
                    application/json:
                      schema: {$ref: '#/components/schemas/Region'}
                '400': {$ref: '#/components/responses/Error'}
                '401': {$ref: '#/components/responses/Error'}
                '404': {$ref: '#/components/responses/Error'}
                '409': {$ref: '#/components/responses/Error'}
            delete:
              summary: Remove a region from the registry (installations drop it at the next sync).
              security: [{adminToken: []}]
              responses:
                '204': {description: Removed.}
                '400': {$ref: '#/components/responses/Error'}
                '401': {$ref: '#/components/responses/Error'}
                '404': {$ref: '#/components/responses/Error'}
          /api/v1/regions/sync:
            post:
              summary: Make every installation's regions table list the registry's regions (dryRun=true plans only).
              security: [{adminToken: []}]
              parameters:
                - {name: dryRun, in: query, required: false, schema: {type: boolean}}
                - {name: allowRemovals, in: query, required: false, description: Also remove rows the registry does not list (never an installation's own row)., schema: {type: boolean}}
              responses:
                '200':
                  description: One report per installation; unreachable ones are reported and skipped, and one whose own region id differs from the registry's is blocked.
                  content:
                    application/json:
                      schema: {type: array, items: {$ref: '#/components/schemas/RegionSyncReport'}}
                '400': {$ref: '#/components/responses/Error'}
                '401': {$ref: '#/components/responses/Error'}
          /api/v1/dashboard:
            get:
              summary: The federation summary from the latest collection (stale regions keep their last figures).
              responses:
                '200':
                  description: Totals and every region's status.
                  content:
                    application/json:
                      schema: {$ref: '#/components/schemas/FederationSummary'}
                '304': {description: 'Not modified: the ETag sent in If-None-Match is current.'}
          /api/v1/dashboard/collect:
            post:
              summary: Collect every region now.
              security: [{adminToken: []}]
              responses:
                '200':
                  description: What the collection did.
                  content:
                    application/json:
                      schema: {$ref: '#/components/schemas/CollectionReport'}
                '401': {$ref: '#/components/responses/Error'}
          /api/v1/dashboard/history:
            get:
              summary: Federation totals per collection, oldest first.
              parameters:
                - {name: hours, in: query, required: false, description: How far back (default 24)., schema: {type: number}}
              responses:
                '200':
                  description: The points.
                  content:
                    application/json:
                      schema: {type: array, items: {$ref: '#/components/schemas/HistoryPoint'}}
                '304': {description: 'Not modified: the ETag sent in If-None-Match is current.'}
                '400': {$ref: '#/components/responses/Error'}
        """
}
