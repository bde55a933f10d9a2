/// The API's OpenAPI 3.1 description, served at `/openapi.yaml`. `ServerTests` fails when a route the router
/// serves is missing here, or a path here is not served.
public enum OpenAPIDocument {
    public static let yaml = #"""
openapi: 3.1.0
info:
  title: Winnow
  version: "1"
  description: |
    Content moderation and relevance scoring. Items are scored at creation (stage 1, the text model), on early
    engagement (stage 2) and at scheduled ages (stage 3), and decided by per-feed policy: allow, demote, review
    or remove. Every call but /health and /ready needs `Authorization: Bearer KEY` (keys have the role feed,
    moderator or admin; admin may call everything). Errors are `{"error": {"code", "message", "field"}}`; an unknown
    path is a 404, a known path asked with another method a 405 with an `Allow` header.
servers:
  - url: http://127.0.0.1:8080
security:
  - bearer: []
paths:
  /health:
    get:
      summary: Liveness
      security: []
      responses:
        "200": {description: The process answers., content: {application/json: {schema: {type: object}}}}
  /ready:
    get:
      summary: Readiness (model loaded, database writable)
      security: []
      responses:
        "200": {description: Ready., content: {application/json: {schema: {type: object}}}}
        "503": {description: Not ready; the body says why., content: {application/json: {schema: {type: object}}}}
  /metrics:
    get:
      summary: Prometheus metrics (requests, latency, decisions by stage and action, active model, scheduler lag)
      responses:
        "200": {description: Exposition text., content: {text/plain: {schema: {type: string}}}}
        "401": {$ref: "#/components/responses/Error"}
  /openapi.yaml:
    get:
      summary: This document
      responses:
        "200": {description: OpenAPI 3.1 YAML., content: {application/yaml: {schema: {type: object}}}}
        "401": {$ref: "#/components/responses/Error"}
  /v1/items:
    post:
      summary: Submit an item; stage 1 scores and decides it (role feed)
      description: Idempotent on (feed, id). The same item again returns the stored answer (200); other content under the same id is a 409.
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: "#/components/schemas/ItemRequest"}}}
      responses:
        "201": {description: Stored and decided., content: {application/json: {schema: {$ref: "#/components/schemas/ItemAnswer"}}}}
        "200": {description: Stored before; the stored answer., content: {application/json: {schema: {$ref: "#/components/schemas/ItemAnswer"}}}}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
        "422": {$ref: "#/components/responses/Error"}
  /v1/items:batch:
    post:
      summary: Submit up to 1,000 items in one request (role feed)
      description: Each item gets its own status (201, 200, 409, 413 or 422); a malformed body rejects the whole batch. The body may be up to 8 MiB.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [items]
              properties:
                items: {type: array, maxItems: 1000, items: {$ref: "#/components/schemas/ItemRequest"}}
      responses:
        "200":
          description: One result per item, in order.
          content:
            application/json:
              schema:
                type: object
                properties:
                  created: {type: integer}
                  existing: {type: integer}
                  failed: {type: integer}
                  results:
                    type: array
                    items:
                      type: object
                      properties:
                        index: {type: integer}
                        id: {type: string}
                        status: {type: integer}
                        item: {$ref: "#/components/schemas/ItemAnswer"}
                        error: {$ref: "#/components/schemas/ErrorDetail"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
        "422": {$ref: "#/components/responses/Error"}
  /v1/items/{id}:
    get:
      summary: An item, its current decision and its whole history (role feed; moderators use their tickets)
      parameters:
        - {$ref: "#/components/parameters/ItemID"}
        - {$ref: "#/components/parameters/Feed"}
      responses:
        "200":
          description: The item.
          content:
            application/json:
              schema:
                type: object
                properties:
                  item: {type: object}
                  current: {$ref: "#/components/schemas/ItemAnswer"}
                  engagement: {$ref: "#/components/schemas/EngagementSnapshot"}
                  history:
                    type: array
                    description: Oldest first; each entry is a stage result, an engagement snapshot or a review ticket's step.
                    items:
                      type: object
                      properties:
                        kind: {type: string, enum: [stage, engagement, ticket]}
                        stage: {type: object}
                        engagement: {$ref: "#/components/schemas/EngagementSnapshot"}
                        ticket:
                          type: object
                          properties:
                            ticket: {type: integer}
                            kind: {type: string, enum: [opened, joined, claimed, renewed, released, expired, escalated, decided]}
                            at: {type: string, format: date-time}
                            by: {type: string, description: "The key name of who acted."}
                            reason: {type: string}
                            tier: {type: integer}
                            label: {type: string}
                            action: {$ref: "#/components/schemas/Action"}
                            reasonCode: {type: string}
                            note: {type: string}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "422": {$ref: "#/components/responses/Error"}
  /v1/items/{id}/engagement:
    post:
      summary: Cumulative engagement counters; stage 2 runs when a trigger fires (role feed)
      description: Repeated and out-of-order updates are safe (counters merge by maximum). Triggers - the first 100, 1,000 and 10,000 views, 15 minutes of age, any new report.
      parameters:
        - {$ref: "#/components/parameters/ItemID"}
        - {$ref: "#/components/parameters/Feed"}
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                feed: {type: string, pattern: "^[a-z0-9_-]{1,64}$"}
                at: {type: string, format: date-time, description: "When the counters were read: not before the item was created, at most 5 minutes ahead of the server (422 otherwise); default now. Send it so that a retry is recognised as one."}
                views: {type: integer, minimum: 0, maximum: 1000000000000000}
                likes: {type: integer, minimum: 0, maximum: 1000000000000000}
                shares: {type: integer, minimum: 0, maximum: 1000000000000000}
                comments: {type: integer, minimum: 0, maximum: 1000000000000000}
                reports: {type: integer, minimum: 0, maximum: 1000000000000000}
                hides: {type: integer, minimum: 0, maximum: 1000000000000000}
      responses:
        "200":
          description: Recorded; `rescored` says whether stage 2 ran.
          content:
            application/json:
              schema:
                type: object
                properties:
                  rescored: {type: boolean}
                  recorded: {type: boolean}
                  engagement: {$ref: "#/components/schemas/EngagementSnapshot"}
                  item: {$ref: "#/components/schemas/ItemAnswer"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
        "422": {$ref: "#/components/responses/Error"}
  /v1/rank:
    post:
      summary: Order candidates by relevance = quality × engagement (Wilson lower bound) × freshness (role feed)
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [items]
              properties:
                feed: {type: string, default: default, pattern: "^[a-z0-9_-]{1,64}$"}
                items: {type: array, items: {type: string}, maxItems: 1000}
      responses:
        "200":
          description: Ranked items, and the ones left out (removed or unknown) with why.
          content:
            application/json:
              schema:
                type: object
                properties:
                  feed: {type: string}
                  profile: {$ref: "#/components/schemas/RelevanceProfile"}
                  ranked:
                    type: array
                    items:
                      type: object
                      properties:
                        id: {type: string}
                        relevance: {type: number}
                        quality: {type: number}
                        engagement: {type: number}
                        freshness: {type: number}
                        action: {$ref: "#/components/schemas/Action"}
                  excluded:
                    type: array
                    items: {type: object, properties: {id: {type: string}, reason: {type: string}}}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
        "422": {$ref: "#/components/responses/Error"}
  /v1/items/{id}/reports:
    post:
      summary: A user reported the item (role feed); weighted reports past the bar open a review ticket
      description: |
        Each reporter counts once per item, weighted by their track record: 2·(upheld+1)/(upheld+rejected+2). Weighted
        reports of at least reportThreshold (default 3) open or join a ticket; once a person has cleared the item the bar
        is reopenFactor (default 3) times higher.
      parameters: [{$ref: "#/components/parameters/ItemID"}, {$ref: "#/components/parameters/Feed"}]
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [reporter]
              properties:
                feed: {type: string, pattern: "^[a-z0-9_-]{1,64}$"}
                reporter: {type: string, minLength: 1, description: "The reporting user's id, at most 256 UTF-8 bytes."}
                at: {type: string, format: date-time}
      responses:
        "200":
          description: Recorded (recorded false for a repeat by the same reporter), with the ticket if one is open.
          content:
            application/json:
              schema:
                type: object
                properties:
                  recorded: {type: boolean}
                  weightedReports: {type: number}
                  ticket: {$ref: "#/components/schemas/Ticket"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
        "422": {$ref: "#/components/responses/Error"}
  /v1/items/{id}/appeal:
    post:
      summary: Appeal the item's decision (role feed); a ticket in tier 1, or tier 2 when a person decided
      parameters: [{$ref: "#/components/parameters/ItemID"}, {$ref: "#/components/parameters/Feed"}]
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object, properties: {feed: {type: string, pattern: "^[a-z0-9_-]{1,64}$"}, note: {type: string, maxLength: 4000}}}
      responses:
        "201": {description: The ticket opened or joined., content: {application/json: {schema: {type: object, properties: {ticket: {$ref: "#/components/schemas/Ticket"}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
        "422": {$ref: "#/components/responses/Error"}
  /v1/review/claim:
    post:
      summary: Lease the highest-priority tickets the reviewer may take (role moderator)
      description: |
        Tickets are routed by language (a ticket without one goes to anyone) and skill (a ticket needing one goes only to
        reviewers naming it). A lease lasts leaseSeconds (default 300); renew it, or it returns to the queue. An empty list
        means the queue has nothing for this reviewer.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                count: {type: integer, minimum: 1, maximum: 10, default: 1}
                tiers: {type: array, items: {type: integer, enum: [1, 2]}, default: [1]}
                languages: {type: array, items: {type: string, minLength: 1, maxLength: 35}, maxItems: 8}
                skills: {type: array, items: {type: string, minLength: 1, maxLength: 64}, maxItems: 8}
                excluding: {type: array, items: {type: integer}, maxItems: 100, description: "Tickets not to hand out (just skipped)."}
      responses:
        "200": {description: The leased tickets., content: {application/json: {schema: {type: object, properties: {tickets: {type: array, items: {$ref: "#/components/schemas/TicketDetail"}}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
        "422": {$ref: "#/components/responses/Error"}
  /v1/review/queue:
    get:
      summary: Open tickets of a tier by priority, paged (role moderator)
      parameters:
        - {name: tier, in: query, schema: {type: integer, enum: [1, 2], default: 1}}
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 500, default: 50}}
        - {name: cursor, in: query, schema: {type: string}, description: "nextCursor of the previous page."}
      responses:
        "200":
          description: A page of tickets.
          content:
            application/json:
              schema:
                type: object
                properties:
                  tier: {type: integer}
                  tickets: {type: array, items: {$ref: "#/components/schemas/Ticket"}}
                  nextCursor: {type: string}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "422": {$ref: "#/components/responses/Error"}
  /v1/review/stats:
    get:
      summary: Queue depth by tier, reason and language; oldest age; SLA breaches; reviewers' pace and gold accuracy (role moderator)
      responses:
        "200":
          description: The figures.
          content:
            application/json:
              schema:
                type: object
                properties:
                  open: {type: integer}
                  claimed: {type: integer}
                  byTier: {type: object, additionalProperties: {type: integer}}
                  byReason: {type: object, additionalProperties: {type: integer}}
                  byLanguage: {type: object, additionalProperties: {type: integer}}
                  oldestAgeSeconds: {type: number}
                  overdue: {type: integer}
                  breachedLast24Hours: {type: integer}
                  reviewers:
                    type: array
                    items:
                      type: object
                      properties:
                        name: {type: string}
                        decisionsLastHour: {type: integer}
                        decisionsLast24Hours: {type: integer}
                        perActiveHour: {type: number}
                        goldSeen: {type: integer}
                        goldCorrect: {type: integer}
                        goldAccuracy: {type: number}
                  agreement:
                    type: object
                    description: Cohen's kappa of double reviews, overall and per reviewer.
                    properties:
                      kappa: {type: number}
                      pairs: {type: integer}
                      byReviewer: {type: object, additionalProperties: {type: number}}
                      pairsByReviewer: {type: object, additionalProperties: {type: integer}}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
  /v1/review/gold:
    post:
      summary: Mark a stored item as gold with its known label; gold tickets are seeded into claims at goldRate (role admin)
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [id, label]
              properties:
                feed: {type: string, pattern: "^[a-z0-9_-]{1,64}$"}
                id: {type: string}
                label: {type: string}
      responses:
        "201": {description: Marked., content: {application/json: {schema: {type: object}}}}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
        "422": {$ref: "#/components/responses/Error"}
  /v1/models:
    get:
      summary: The model registry, the active version and every change of it (role admin)
      responses:
        "200":
          description: The registry.
          content:
            application/json:
              schema:
                type: object
                properties:
                  active: {type: string}
                  versions: {type: array, items: {$ref: "#/components/schemas/ModelVersion"}}
                  history:
                    type: array
                    items: {type: object, properties: {version: {type: string}, previous: {type: string}, kind: {type: string, enum: [promote, rollback]}, by: {type: string}, at: {type: string, format: date-time}}}
                  shadow: {$ref: "#/components/schemas/ShadowReport"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
    post:
      summary: Register a model file (the body); its version comes from its header (role admin)
      requestBody:
        required: true
        content: {application/octet-stream: {schema: {type: string, format: binary}}}
      responses:
        "201": {description: Registered (or registered before with the same bytes)., content: {application/json: {schema: {$ref: "#/components/schemas/ModelAnswer"}}}}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
        "422": {$ref: "#/components/responses/Error"}
  /v1/models/{version}/promote:
    post:
      summary: Make a registered version the active model, at once, without stopping (role admin)
      parameters: [{name: version, in: path, required: true, schema: {type: string}}]
      responses:
        "200": {description: Promoted., content: {application/json: {schema: {$ref: "#/components/schemas/ModelAnswer"}}}}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
  /v1/models/{version}/shadow:
    post:
      summary: Score live items with a registered version beside the active model, without acting on it (role admin)
      parameters: [{name: version, in: path, required: true, schema: {type: string}}]
      responses:
        "200": {description: Shadow mode runs., content: {application/json: {schema: {type: object, properties: {shadow: {$ref: "#/components/schemas/ShadowReport"}}}}}}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
  /v1/models/shadow:
    delete:
      summary: Stop shadow mode; the answer is what the candidate would have done differently (role admin)
      responses:
        "200": {description: Stopped., content: {application/json: {schema: {type: object, properties: {shadow: {$ref: "#/components/schemas/ShadowReport"}}}}}}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
  /v1/models/rollback:
    post:
      summary: Return to the model active before the last promotion or rollback (role admin)
      responses:
        "200": {description: Rolled back., content: {application/json: {schema: {$ref: "#/components/schemas/ModelAnswer"}}}}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
  /v1/labels:
    get:
      summary: Every human judgement, oldest first, withdrawn ones included (role admin)
      parameters:
        - {name: since, in: query, schema: {type: string, format: date-time}}
        - {name: after, in: query, schema: {type: integer, minimum: 0}, description: "nextAfter of the previous page."}
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 1000, default: 100}}
      responses:
        "200":
          description: A page of labels.
          content:
            application/json:
              schema: {type: object, properties: {labels: {type: array, items: {$ref: "#/components/schemas/Label"}}, nextAfter: {type: integer}}}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "422": {$ref: "#/components/responses/Error"}
    post:
      summary: Import labels (source import) for items by the feed's ids (role admin)
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [labels]
              properties:
                labels:
                  type: array
                  maxItems: 10000
                  items:
                    type: object
                    required: [id, label]
                    properties:
                      feed: {type: string, pattern: "^[a-z0-9_-]{1,64}$"}
                      id: {type: string}
                      label: {type: string, description: "A class of the model."}
                      tier: {type: integer, enum: [1, 2], default: 1}
      responses:
        "201": {description: Stored., content: {application/json: {schema: {type: object, properties: {labels: {type: array, items: {$ref: "#/components/schemas/Label"}}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
        "422": {$ref: "#/components/responses/Error"}
  /v1/labels/{id}/withdraw:
    post:
      summary: Withdraw a label; it stops counting and the row stays (role admin)
      parameters: [{name: id, in: path, required: true, schema: {type: integer, minimum: 1}}]
      responses:
        "200": {description: The label, withdrawn., content: {application/json: {schema: {type: object, properties: {label: {$ref: "#/components/schemas/Label"}}}}}}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
  /v1/labels/{id}/correct:
    post:
      summary: Correct a label; the old one is withdrawn and a new row replaces it (role admin)
      parameters: [{name: id, in: path, required: true, schema: {type: integer, minimum: 1}}]
      requestBody:
        required: true
        content: {application/json: {schema: {type: object, required: [label], properties: {label: {type: string}}}}}
      responses:
        "201": {description: The new label., content: {application/json: {schema: {type: object, properties: {label: {$ref: "#/components/schemas/Label"}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
        "422": {$ref: "#/components/responses/Error"}
  /v1/stats:
    get:
      summary: How the automatic path does, estimated from blind audits, and the review queue's figures (role admin)
      description: |
        Each audit is weighted by 1/π (π its inclusion probability); proportions are Hájek estimates with a 95% Wilson
        interval at the weights' effective sample size. An estimate without audits is absent.
      parameters:
        - {name: since, in: query, description: "Only automatic decisions made at or after this time (ISO 8601).", schema: {type: string, format: date-time}}
        - {name: until, in: query, description: "Only automatic decisions made before this time (ISO 8601).", schema: {type: string, format: date-time}}
      responses:
        "200":
          description: The estimates.
          content:
            application/json:
              schema:
                type: object
                properties:
                  audits:
                    type: object
                    properties:
                      removalPrecision: {$ref: "#/components/schemas/Estimate"}
                      missedHarm: {$ref: "#/components/schemas/Estimate"}
                      prevalenceShown: {$ref: "#/components/schemas/Estimate"}
                      recall: {type: object, additionalProperties: {$ref: "#/components/schemas/Estimate"}}
                      audits: {type: integer}
                      reviewerError:
                        type: object
                        description: The reviewer error (from double reviews) the harm shares were corrected for; absent with too few double reviews.
                        properties:
                          rate: {type: number}
                          pairs: {type: integer}
                          agreement: {type: number}
                  queue: {type: object, description: "As GET /v1/review/stats."}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
  /v1/review/tickets/{id}:
    get:
      summary: One ticket with its item, scores (not for blind audits) and history (role moderator)
      parameters: [{$ref: "#/components/parameters/TicketID"}]
      responses:
        "200": {description: The ticket., content: {application/json: {schema: {$ref: "#/components/schemas/TicketDetail"}}}}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
  /v1/review/tickets/{id}/decision:
    post:
      summary: Decide a ticket you hold (role moderator); it becomes the item's decision and a label
      description: Needs the live lease (409 lease_lost otherwise); with version, a ticket changed since is a 409 version_mismatch; a second decision is a 409 already_decided.
      parameters: [{$ref: "#/components/parameters/TicketID"}]
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [label, reasonCode]
              properties:
                label: {type: string, description: "A class of the model."}
                action: {type: string, enum: [allow, demote, remove], description: "Default: allow for the clear class, remove otherwise."}
                reasonCode: {type: string, description: "One of the configured reason codes."}
                note: {type: string, maxLength: 4000}
                version: {type: integer}
      responses:
        "200":
          description: Decided.
          content:
            application/json:
              schema:
                type: object
                properties:
                  ticket: {$ref: "#/components/schemas/Ticket"}
                  label: {type: string}
                  action: {$ref: "#/components/schemas/Action"}
                  reasonCode: {type: string}
                  outcome: {type: string, enum: [decided, awaiting_second_review, escalated_on_disagreement]}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
        "422": {$ref: "#/components/responses/Error"}
  /v1/review/tickets/{id}/release:
    post:
      summary: Give a ticket you hold back to the queue (role moderator)
      parameters: [{$ref: "#/components/parameters/TicketID"}]
      requestBody:
        required: false
        content: {application/json: {schema: {type: object, properties: {version: {type: integer}}}}}
      responses:
        "200": {description: Released., content: {application/json: {schema: {type: object, properties: {ticket: {$ref: "#/components/schemas/Ticket"}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
        "422": {$ref: "#/components/responses/Error"}
  /v1/review/tickets/{id}/renew:
    post:
      summary: Extend the lease on a ticket you hold (role moderator)
      parameters: [{$ref: "#/components/parameters/TicketID"}]
      responses:
        "200": {description: Renewed., content: {application/json: {schema: {type: object, properties: {ticket: {$ref: "#/components/schemas/Ticket"}}}}}}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
  /v1/review/tickets/{id}/escalate:
    post:
      summary: Pass a ticket you hold to tier 2 with a note (role moderator)
      parameters: [{$ref: "#/components/parameters/TicketID"}]
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object, required: [note], properties: {note: {type: string, minLength: 1, maxLength: 4000}, version: {type: integer}}}
      responses:
        "200": {description: Escalated., content: {application/json: {schema: {type: object, properties: {ticket: {$ref: "#/components/schemas/Ticket"}}}}}}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
        "422": {$ref: "#/components/responses/Error"}
  /v1/policies/{feed}:
    get:
      summary: The feed's current policy (role admin)
      parameters:
        - {name: feed, in: path, required: true, schema: {type: string, pattern: "^[a-z0-9_-]{1,64}$"}}
      responses:
        "200": {description: The policy; isDefault when the feed has none stored., content: {application/json: {schema: {$ref: "#/components/schemas/PolicyAnswer"}}}}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "422": {$ref: "#/components/responses/Error"}
    put:
      summary: Store a new version of the feed's policy (role admin)
      parameters:
        - {name: feed, in: path, required: true, schema: {type: string, pattern: "^[a-z0-9_-]{1,64}$"}}
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: "#/components/schemas/Policy"}}}
      responses:
        "200": {description: Stored with its new version., content: {application/json: {schema: {$ref: "#/components/schemas/PolicyAnswer"}}}}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
        "422": {$ref: "#/components/responses/Error"}
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer}
  parameters:
    ItemID: {name: id, in: path, required: true, schema: {type: string}, description: "The feed's own item id."}
    TicketID: {name: id, in: path, required: true, schema: {type: integer, minimum: 1}}
    Feed: {name: feed, in: query, required: false, schema: {type: string, default: default, pattern: "^[a-z0-9_-]{1,64}$"}}
  responses:
    Error:
      description: An error.
      content:
        application/json:
          schema:
            type: object
            properties:
              error: {$ref: "#/components/schemas/ErrorDetail"}
  schemas:
    ErrorDetail:
      type: object
      required: [code, message]
      properties:
        code: {type: string}
        message: {type: string}
        field: {type: string, description: "The JSON path of the field at fault, when one is."}
    Action: {type: string, enum: [allow, demote, review, remove]}
    ItemRequest:
      type: object
      required: [id, text]
      properties:
        id: {type: string, minLength: 1, pattern: "^[^\\x00-\\x1f\\x7f]+$", description: "The feed's own id: at most 256 UTF-8 bytes."}
        feed: {type: string, default: default, pattern: "^[a-z0-9_-]{1,64}$"}
        text: {type: string, minLength: 1, pattern: "\\S", description: "Not blank; at most 10,000 UTF-8 bytes by default (413 beyond)."}
        language: {type: string, minLength: 1, description: "A language tag, at most 35 bytes."}
        author:
          type: object
          required: [id]
          properties:
            id: {type: string, minLength: 1, description: "At most 256 UTF-8 bytes."}
            accountAgeDays: {type: number, minimum: 0}
            followers: {type: integer, minimum: 0}
            priorRemovals: {type: integer, minimum: 0}
        createdAt: {type: string, format: date-time, description: "After 1970 and at most a day after now (a time ahead of the server counts as now); default now."}
    ItemAnswer:
      type: object
      properties:
        id: {type: string}
        feed: {type: string}
        stage: {type: string, enum: [creation, engagement, time, review]}
        trigger: {type: string}
        probabilities: {type: object, additionalProperties: {type: number}}
        label: {type: string}
        evidence: {type: number, description: "0-1; below 1 the model knew too few of the words."}
        decision:
          type: object
          properties:
            action: {$ref: "#/components/schemas/Action"}
            label: {type: string}
            probability: {type: number}
            reason: {type: string}
            policyVersion: {type: integer}
            priority: {type: string, enum: [normal, high]}
        reasons:
          type: array
          items: {type: object, properties: {label: {type: string}, feature: {type: string}, kind: {type: string}, contribution: {type: number}}}
        relevance: {type: number}
        relevanceFactors: {type: object, properties: {quality: {type: number}, engagement: {type: number}, freshness: {type: number}, relevance: {type: number}}}
        modelVersion: {type: string}
        policyVersion: {type: integer}
        scoredAt: {type: string, format: date-time}
        createdAt: {type: string, format: date-time}
        changed: {type: string, description: "What changed since the previous stage."}
    EngagementSnapshot:
      type: object
      properties:
        at: {type: string, format: date-time}
        counters: {type: object, properties: {views: {type: integer}, likes: {type: integer}, shares: {type: integer}, comments: {type: integer}, reports: {type: integer}, hides: {type: integer}}}
    RelevanceProfile:
      type: object
      properties:
        qualityWeight: {type: number, minimum: 0, default: 1}
        engagementWeight: {type: number, minimum: 0, default: 1}
        halfLifeHours: {type: number, exclusiveMinimum: 0, default: 24}
        z: {type: number, exclusiveMinimum: 0, default: 1.96}
    Policy:
      type: object
      required: [rules]
      properties:
        rules:
          type: object
          description: Per class, cut-offs on its probability that rise from demote to review to remove. The key "harm" acts on P(harm) = 1 − P(clear), every class but clear together, and names the most probable harmful class.
          additionalProperties:
            type: object
            properties:
              demote: {type: number, minimum: 0, maximum: 1}
              review: {type: number, minimum: 0, maximum: 1}
              remove: {type: number, minimum: 0, maximum: 1}
        reviewThinRemovals: {type: boolean, default: true}
        relevance: {$ref: "#/components/schemas/RelevanceProfile"}
    ModelVersion:
      type: object
      properties:
        version: {type: string}
        kind: {type: string}
        classes: {type: array, items: {type: string}}
        parent: {type: string}
        registeredBy: {type: string}
        registeredAt: {type: string, format: date-time}
        active: {type: boolean}
        card: {type: string, description: "The model card (Markdown)."}
    ShadowReport:
      type: object
      properties:
        candidate: {type: string}
        since: {type: string, format: date-time}
        items: {type: integer}
        labelDisagreements: {type: integer}
        actionDisagreements: {type: integer}
        meanHarmDifference: {type: number}
        transitions: {type: object, additionalProperties: {type: integer}, description: "Counts by active action → candidate action."}
    ModelAnswer:
      type: object
      properties:
        active: {type: string}
        model: {$ref: "#/components/schemas/ModelVersion"}
    Label:
      type: object
      properties:
        id: {type: integer}
        feed: {type: string}
        itemId: {type: string}
        label: {type: string}
        source: {type: string, enum: [review, audit, appeal, import]}
        by: {type: string}
        at: {type: string, format: date-time}
        tier: {type: integer, enum: [1, 2]}
        modelLabel: {type: string, description: "The model's answer when the person judged."}
        modelProbability: {type: number}
        modelVersion: {type: string}
        withdrawnAt: {type: string, format: date-time}
        withdrawnBy: {type: string}
        replaces: {type: integer, description: "The label this one corrects."}
    Estimate:
      type: object
      properties:
        value: {type: number}
        low: {type: number}
        high: {type: number}
        audits: {type: integer}
        effectiveAudits: {type: number}
    Ticket:
      type: object
      properties:
        id: {type: integer}
        feed: {type: string}
        itemId: {type: string}
        tier: {type: integer, enum: [1, 2]}
        reasons: {type: array, items: {type: string, enum: [review_band, reports, viral, audit, appeal, escalation]}}
        status: {type: string, enum: [open, decided]}
        language: {type: string}
        skill: {type: string}
        openedAt: {type: string, format: date-time}
        dueAt: {type: string, format: date-time}
        slaSecondsLeft: {type: number, description: "Negative once overdue."}
        priority: {type: number, description: "max(uncertainty, 0.05) × log10(10 + expected views) × severity × urgency."}
        version: {type: integer}
        lease: {type: object, properties: {holder: {type: string}, until: {type: string, format: date-time}}}
        note: {type: string, description: "The escalating reviewer's note."}
        blind: {type: boolean, description: "An audit: the model's answer is withheld."}
    TicketDetail:
      type: object
      properties:
        ticket: {$ref: "#/components/schemas/Ticket"}
        item: {type: object, properties: {id: {type: string}, feed: {type: string}, text: {type: string}, language: {type: string}, author: {type: object}, createdAt: {type: string, format: date-time}, receivedAt: {type: string, format: date-time}}}
        engagement: {$ref: "#/components/schemas/EngagementSnapshot"}
        scores: {$ref: "#/components/schemas/ItemAnswer"}
        history: {type: array, items: {type: object, properties: {kind: {type: string, enum: [stage, engagement, ticket]}}}}
        classes: {type: array, items: {type: string}}
        reasonCodes: {type: array, items: {type: string}}
        suggestedReasonCodes: {type: object, additionalProperties: {type: string}, description: "The reason code each label suggests."}
    PolicyAnswer:
      type: object
      properties:
        policy:
          allOf:
            - {$ref: "#/components/schemas/Policy"}
            - type: object
              properties: {feed: {type: string}, version: {type: integer}}
        isDefault: {type: boolean}
"""#
}
