package openapi

import (
	"fmt"
	"strings"

	"github.com/plantbridge/plantbridge/connectors/model"
)

// The record schemas and the record routes are generated from the model definitions
// in connectors/model, the same ones the agent maps with, so that the document cannot
// drift from the records the relay serves.

// recordSchemaName is the component name of a model's records: work_orders → WorkOrder.
func recordSchemaName(modelName string) string {
	return camel(strings.TrimSuffix(modelName, "s"))
}

// modelTitle is a model's name for people: work_orders → Work orders.
func modelTitle(modelName string) string {
	s := strings.ReplaceAll(modelName, "_", " ")
	return strings.ToUpper(s[:1]) + s[1:]
}

func camel(snake string) string {
	var b strings.Builder
	for _, part := range strings.Split(snake, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

const decimalPattern = `^-?[0-9]+(\.[0-9]+)?$`

// commonFields are the members every record has (DESIGN.md §4, model.Record).
func commonFields() []field {
	return []field{
		req("id", str("Stable unified id, derived from the connection, the model and the native key.")),
		req("remote_id", str("Native key in the source system; composite keys are joined with / (SITE/WONUM).")),
		req("created_at", dateTime("When the relay first stored the record.")),
		req("modified_at", dateTime("When the relay last stored a change to the record; what modified_after and modified_before filter on.")),
		req("remote_created_at", nullable(dateTime("Creation time in the source system, converted to UTC with the connection's time zone."))),
		req("remote_updated_at", nullable(dateTime("Last change in the source system, converted to UTC with the connection's time zone."))),
		req("remote_was_deleted", boolean("The record no longer exists in the source system (found missing by a full re-sync).")),
	}
}

func customFieldsSchema() *Schema {
	return nullable(openObject("Values of the connection's custom fields (mapped extra columns; see field-mappings), by name."))
}

func remoteDataSchema() *Schema {
	return nullable(openObject("The raw source row, column name to value. Sent only with include_remote_data=true."))
}

// readSchema is the schema of a field's value in a record as the relay answers it.
// Every unified field may be null: a source value that is empty, or a native code
// with no mapping.
func readSchema(modelName string, f model.Field) *Schema {
	var s *Schema
	switch f.Type {
	case model.String:
		s = str(f.Doc)
	case model.Int:
		s = integer(f.Doc)
	case model.Decimal:
		s = str(f.Doc + ". A decimal number written as a string, so that no precision is lost.")
		s.Pattern = decimalPattern
	case model.Bool:
		s = boolean(f.Doc)
	case model.Time:
		s = dateTime(f.Doc)
	case model.Enum:
		s = enum(f.Doc+". null when the native code has no mapping; the native code is in remote_"+f.Name+".", f.Values...)
	case model.Ref:
		s = str(fmt.Sprintf("%s: the id of a %s record of this connection.", f.Doc, f.Ref))
	case model.RefList, model.StringList:
		desc := f.Doc
		if f.Type == model.RefList {
			desc = fmt.Sprintf("%s: ids of %s records of this connection.", f.Doc, f.Ref)
		}
		s = array(desc, &Schema{Type: "string"})
	case model.Object:
		s = openObject(f.Doc)
	case model.Lines:
		return nullable(array(f.Doc, ref(lineSchemaName(modelName))))
	default:
		s = anyValue(f.Doc)
	}
	return nullable(s)
}

// writeSchema is the schema of a field's value in a write. Decimals may be sent as
// numbers too; null clears a field.
func writeSchema(modelName string, f model.Field) *Schema {
	switch f.Type {
	case model.Decimal:
		s := &Schema{Type: []string{"string", "number", "null"}, Pattern: decimalPattern,
			Description: f.Doc + ". A decimal number, as a string (exact) or a JSON number."}
		return s
	case model.Lines:
		return nullable(array(f.Doc, ref(lineSchemaName(modelName)+"Fields")))
	case model.Ref, model.RefList:
		s := readSchema(modelName, f)
		s.Description += " The relay resolves it to the source system's key before the write."
		return s
	}
	return readSchema(modelName, f)
}

func lineSchemaName(modelName string) string { return recordSchemaName(modelName) + "Line" }

// addRecordSchemas adds, for every unified model, the record (WorkOrder), the fields of
// a write (WorkOrderFields), the lines of a Lines field, a page of records, the
// per-record results of batch writes, and the batch and async request bodies.
func addRecordSchemas(c *Ordered[*Schema]) {
	for _, def := range model.Models {
		name := recordSchemaName(def.Name)
		title := modelTitle(def.Name)
		read := object(fmt.Sprintf("A record of %s, as synced from the plant's system (DESIGN.md §4). "+
			"Unified fields that the connection does not map are left out; every enum has a remote_ sibling "+
			"carrying the native code.", def.Name), commonFields()...)
		write := object(fmt.Sprintf("Fields of a %s write: any unified field, an enum's remote_ sibling to write "+
			"a native code as it is, and custom_fields. Which fields a create requires depends on the source "+
			"system; a missing or invalid one is a VALIDATION_FAILED error pointing at it.", strings.ToLower(title)))
		write.AdditionalProperties = false
		for _, f := range def.Fields {
			read.Properties.Set(f.Name, readSchema(def.Name, f))
			write.Properties.Set(f.Name, writeSchema(def.Name, f))
			if f.Type == model.Enum {
				sib := model.RemoteSibling(f.Name)
				read.Properties.Set(sib, nullable(str("Native code of "+f.Name+" in the source system.")))
				write.Properties.Set(sib, nullable(str("Native code of "+f.Name+" to write as it is, instead of "+f.Name+".")))
			}
			if f.Type == model.Lines {
				line := object("One of the " + f.Name + " of a record of " + def.Name + ".")
				lineWrite := object("One of the " + f.Name + " of a " + strings.ToLower(title) + " write.")
				lineWrite.AdditionalProperties = false
				for _, lf := range f.Lines {
					line.Properties.Set(lf.Name, readSchema(def.Name, lf))
					lineWrite.Properties.Set(lf.Name, writeSchema(def.Name, lf))
				}
				c.Set(lineSchemaName(def.Name), line)
				c.Set(lineSchemaName(def.Name)+"Fields", lineWrite)
			}
		}
		read.Properties.Set("custom_fields", customFieldsSchema())
		read.Properties.Set("remote_data", remoteDataSchema())
		write.Properties.Set("custom_fields", customFieldsSchema())
		c.Set(name, read)
		c.Set(name+"Fields", write)
		c.Set(name+"List", recordList("A page of "+def.Name+" records.", ref(name)))
		c.Set(name+"WriteResult", writeResult("The result of one write of a batch.", ref(name)))
		c.Set(name+"BatchResult", object("The results of a batch write, one per record, in the order sent.",
			req("results", array("One result per record sent.", ref(name+"WriteResult"))),
			req("summary", ref("BatchSummary"))))
		input := object("One write of a batch or async job.",
			opt("op", enum("create, or update of the record named by id. Default: update when id is set, else create. "+
				"An update that sets only status (or remote_status) is a status change through the system's own transition.",
				"create", "update")),
			opt("id", str("Id of the record to update.")),
			req("fields", ref(name+"Fields")))
		input.AdditionalProperties = false
		c.Set(name+"WriteInput", input)
		batch := object(fmt.Sprintf("Up to %d writes of %s, each with its own result.", maxBatch, def.Name),
			req("records", &Schema{Type: "array", Items: ref(name + "WriteInput"), MinItems: intPtr(1), MaxItems: intPtr(maxBatch)}))
		batch.AdditionalProperties = false
		c.Set(name+"Batch", batch)
		async := object("Writes of "+def.Name+" of any number, run as a job.",
			req("records", &Schema{Type: "array", Items: ref(name + "WriteInput"), MinItems: intPtr(1)}))
		async.AdditionalProperties = false
		c.Set(name+"Async", async)
	}
	custom := object("A record of a custom model: the common members, and the model's fields as its "+
		"definition names and types them.", commonFields()...)
	custom.Properties.Set("custom_fields", customFieldsSchema())
	custom.Properties.Set("remote_data", remoteDataSchema())
	custom.AdditionalProperties = true
	c.Set("CustomRecord", custom)
	c.Set("CustomRecordList", recordList("A page of custom model records.", ref("CustomRecord")))
	anyRecord := object("A record of any model; the job's model says which.", commonFields()...)
	anyRecord.AdditionalProperties = true
	c.Set("Record", anyRecord)
}

// maxBatch is the most writes a batch takes (api.MaxBatchWrites).
const maxBatch = 100

func recordList(desc string, item *Schema) *Schema {
	return object(desc+" Walk with next until it is null; previous walks back. Cursors are opaque and "+
		"bound to the query: send them back unchanged, with the same filters.",
		req("next", nullable(str("Cursor of the next page; null on the last page."))),
		req("previous", nullable(str("Cursor of the previous page; null on the first page."))),
		req("results", array("The records, oldest modified_at first.", item)))
}

func writeResult(desc string, record *Schema) *Schema {
	return object(desc,
		req("index", integer("Position of the write in the request.")),
		req("status", integer("The HTTP status this write alone would have had: 201 created, 200 updated, or an error's status.")),
		opt("record", described(record, "The record as stored after the write; on success.")),
		opt("error", ref("WriteError")))
}

// addRecordPaths adds the read and write routes of every unified model, and of custom
// models.
func (d *document) addRecordPaths() {
	for _, def := range model.Models {
		name := recordSchemaName(def.Name)
		title := modelTitle(def.Name)
		lower := strings.ToLower(title)
		base := "/v1/connections/{id}/" + def.Name
		plural := camel(def.Name)
		d.add(op{method: "GET", path: base, id: "list" + plural, tag: title,
			summary: "List " + lower,
			desc: "Records of " + def.Name + " from the relay's store, oldest change first: fast, and available " +
				"while the plant is offline. A walk is a snapshot: records changed after its first page are left " +
				"to the next walk, which starts with modified_after set to the last modified_at seen.",
			query: []string{"Cursor", "PageSize", "ModifiedAfter", "ModifiedBefore", "IncludeDeleted", "IncludeRemoteData"},
			ok:    []okResp{{200, "A page of records.", ref(name + "List")}}})
		d.add(op{method: "GET", path: base + "/{record_id}", id: "get" + name, tag: title,
			summary: "Get one " + strings.TrimSuffix(lower, "s"),
			query:   []string{"IncludeRemoteData"},
			ok:      []okResp{{200, "The record.", ref(name)}}})
		d.add(op{method: "POST", path: base, id: "create" + name, tag: title,
			summary: "Create a " + strings.TrimSuffix(lower, "s"),
			desc: "Writes through the agent into the plant's system in one transaction; the record as stored " +
				"comes back and is readable at once. Fails fast with 503 when the agent is offline.",
			body: ref(name + "Fields"), idempotent: true, agent: true,
			ok: []okResp{{201, "The created record.", ref(name)}}})
		d.add(op{method: "PATCH", path: base + "/{record_id}", id: "update" + name, tag: title,
			summary: "Update a " + strings.TrimSuffix(lower, "s"),
			desc: "Sets the fields sent, through the agent. A change of status alone runs as the system's " +
				"status transition.",
			body: ref(name + "Fields"), idempotent: true, agent: true,
			ok: []okResp{{200, "The updated record.", ref(name)}}})
		d.add(op{method: "POST", path: base + "/batch", id: "batchWrite" + plural, tag: title,
			summary: fmt.Sprintf("Write up to %d %s", maxBatch, lower),
			desc: "Each write is validated and sent on its own; the answer has one result per write, so some " +
				"may fail while others succeed. Use async for more.",
			body: ref(name + "Batch"), idempotent: true, agent: true,
			ok: []okResp{{200, "Per-record results.", ref(name + "BatchResult")}}})
		d.add(op{method: "POST", path: base + "/async", id: "asyncWrite" + plural, tag: title,
			summary: "Queue writes of " + lower + " as a job",
			desc: "Any number of writes, stored and sent to the agent in batches with pauses so that the plant " +
				"database is not flooded. An offline agent makes the job wait, not fail. Follow it with " +
				"GET /v1/jobs/{job_id}, or the job.completed webhook. Bodies may be 32 times the usual limit.",
			body: ref(name + "Async"), idempotent: true,
			ok: []okResp{{202, "The queued job.", ref("Job")}}})
	}
	d.add(op{method: "GET", path: "/v1/connections/{id}/custom/{name}", id: "listCustomRecords", tag: "Custom models",
		summary: "List records of a custom model",
		query:   []string{"Cursor", "PageSize", "ModifiedAfter", "ModifiedBefore", "IncludeDeleted", "IncludeRemoteData"},
		ok:      []okResp{{200, "A page of records.", ref("CustomRecordList")}}})
	d.add(op{method: "GET", path: "/v1/connections/{id}/custom/{name}/{record_id}", id: "getCustomRecord", tag: "Custom models",
		summary: "Get one record of a custom model",
		query:   []string{"IncludeRemoteData"},
		ok:      []okResp{{200, "The record.", ref("CustomRecord")}}})
}
