// Package echo holds the messages of src/libs/ttrpc/interop/echo.proto (package ttrpc.interop),
// encoded and decoded by hand: Debian has no protoc-gen-gogo, and gogo's proto.Marshal/Unmarshal
// (which Go ttrpc 1.1.1 calls) use a message's own Marshal/Unmarshal methods when it has them,
// as generated gogo code does.
package echo

import (
	"errors"
	"fmt"
)

// Service is the ttRPC service name both implementations serve.
const Service = "ttrpc.interop.Echo"

// EchoRequest is ttrpc.interop.EchoRequest.
type EchoRequest struct {
	Payload     []byte // 1
	SleepMs     int64  // 2
	FailCode    int32  // 3
	FailMessage string // 4
	Count       int32  // 5
}

// EchoResponse is ttrpc.interop.EchoResponse.
type EchoResponse struct {
	Payload     []byte   // 1
	Metadata    []string // 2
	TimeoutNano int64    // 3
}

func (m *EchoRequest) Reset()         { *m = EchoRequest{} }
func (m *EchoRequest) ProtoMessage()  {}
func (m *EchoRequest) String() string { return fmt.Sprintf("EchoRequest{payload: %d bytes, sleep_ms: %d, fail_code: %d, fail_message: %q, count: %d}", len(m.Payload), m.SleepMs, m.FailCode, m.FailMessage, m.Count) }

func (m *EchoResponse) Reset()         { *m = EchoResponse{} }
func (m *EchoResponse) ProtoMessage()  {}
func (m *EchoResponse) String() string { return fmt.Sprintf("EchoResponse{payload: %d bytes, metadata: %q, timeout_nano: %d}", len(m.Payload), m.Metadata, m.TimeoutNano) }

// ---- encoding -------------------------------------------------------------------------------

const (
	wireVarint = 0
	wire64     = 1
	wireBytes  = 2
	wire32     = 5
)

func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func putVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func putTag(b []byte, field int, wire int) []byte { return putVarint(b, uint64(field)<<3|uint64(wire)) }

func putBytes(b []byte, field int, p []byte) []byte {
	b = putTag(b, field, wireBytes)
	b = putVarint(b, uint64(len(p)))
	return append(b, p...)
}

func bytesLen(field int, n int) int { return varintLen(uint64(field)<<3) + varintLen(uint64(n)) + n }

// int32 and int64 fields are varints of the value sign-extended to 64 bits (proto3 semantics).
func putInt(b []byte, field int, v int64) []byte {
	b = putTag(b, field, wireVarint)
	return putVarint(b, uint64(v))
}

func intLen(field int, v int64) int { return varintLen(uint64(field)<<3) + varintLen(uint64(v)) }

// Size is the encoded size.
func (m *EchoRequest) Size() int {
	n := 0
	if len(m.Payload) > 0 {
		n += bytesLen(1, len(m.Payload))
	}
	if m.SleepMs != 0 {
		n += intLen(2, m.SleepMs)
	}
	if m.FailCode != 0 {
		n += intLen(3, int64(m.FailCode))
	}
	if len(m.FailMessage) > 0 {
		n += bytesLen(4, len(m.FailMessage))
	}
	if m.Count != 0 {
		n += intLen(5, int64(m.Count))
	}
	return n
}

// Marshal encodes m (fields in number order, proto3 defaults omitted).
func (m *EchoRequest) Marshal() ([]byte, error) {
	b := make([]byte, 0, m.Size())
	if len(m.Payload) > 0 {
		b = putBytes(b, 1, m.Payload)
	}
	if m.SleepMs != 0 {
		b = putInt(b, 2, m.SleepMs)
	}
	if m.FailCode != 0 {
		b = putInt(b, 3, int64(m.FailCode))
	}
	if len(m.FailMessage) > 0 {
		b = putBytes(b, 4, []byte(m.FailMessage))
	}
	if m.Count != 0 {
		b = putInt(b, 5, int64(m.Count))
	}
	return b, nil
}

// Size is the encoded size.
func (m *EchoResponse) Size() int {
	n := 0
	if len(m.Payload) > 0 {
		n += bytesLen(1, len(m.Payload))
	}
	for _, s := range m.Metadata {
		n += bytesLen(2, len(s))
	}
	if m.TimeoutNano != 0 {
		n += intLen(3, m.TimeoutNano)
	}
	return n
}

// Marshal encodes m.
func (m *EchoResponse) Marshal() ([]byte, error) {
	b := make([]byte, 0, m.Size())
	if len(m.Payload) > 0 {
		b = putBytes(b, 1, m.Payload)
	}
	for _, s := range m.Metadata {
		b = putBytes(b, 2, []byte(s))
	}
	if m.TimeoutNano != 0 {
		b = putInt(b, 3, m.TimeoutNano)
	}
	return b, nil
}

// ---- decoding -------------------------------------------------------------------------------

var errTruncated = errors.New("echo: truncated message")

type decoder struct {
	b []byte
	i int
}

func (d *decoder) varint() (uint64, error) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if d.i >= len(d.b) {
			return 0, errTruncated
		}
		c := d.b[d.i]
		d.i++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, nil
		}
	}
	return 0, errors.New("echo: varint overflow")
}

func (d *decoder) bytes() ([]byte, error) {
	n, err := d.varint()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(d.b)-d.i) {
		return nil, errTruncated
	}
	p := d.b[d.i : d.i+int(n)]
	d.i += int(n)
	return p, nil
}

// skip jumps over a field of an unknown number.
func (d *decoder) skip(wire int) error {
	switch wire {
	case wireVarint:
		_, err := d.varint()
		return err
	case wire64:
		if len(d.b)-d.i < 8 {
			return errTruncated
		}
		d.i += 8
	case wire32:
		if len(d.b)-d.i < 4 {
			return errTruncated
		}
		d.i += 4
	case wireBytes:
		_, err := d.bytes()
		return err
	default:
		return fmt.Errorf("echo: unsupported wire type %d", wire)
	}
	return nil
}

// next reads a field key; ok is false at the end of the message.
func (d *decoder) next() (field int, wire int, ok bool, err error) {
	if d.i >= len(d.b) {
		return 0, 0, false, nil
	}
	k, err := d.varint()
	if err != nil {
		return 0, 0, false, err
	}
	field, wire = int(k>>3), int(k&7)
	if field <= 0 {
		return 0, 0, false, fmt.Errorf("echo: invalid field number %d", field)
	}
	return field, wire, true, nil
}

func expect(field, wire, want int) error {
	if wire != want {
		return fmt.Errorf("echo: field %d has wire type %d, want %d", field, wire, want)
	}
	return nil
}

// Unmarshal decodes b into m (merging, as proto does; proto.Unmarshal resets m first).
func (m *EchoRequest) Unmarshal(b []byte) error {
	d := decoder{b: b}
	for {
		field, wire, ok, err := d.next()
		if err != nil || !ok {
			return err
		}
		switch field {
		case 1:
			if err := expect(field, wire, wireBytes); err != nil {
				return err
			}
			p, err := d.bytes()
			if err != nil {
				return err
			}
			m.Payload = append([]byte(nil), p...)
		case 2, 3, 5:
			if err := expect(field, wire, wireVarint); err != nil {
				return err
			}
			v, err := d.varint()
			if err != nil {
				return err
			}
			switch field {
			case 2:
				m.SleepMs = int64(v)
			case 3:
				m.FailCode = int32(v)
			case 5:
				m.Count = int32(v)
			}
		case 4:
			if err := expect(field, wire, wireBytes); err != nil {
				return err
			}
			p, err := d.bytes()
			if err != nil {
				return err
			}
			m.FailMessage = string(p)
		default:
			if err := d.skip(wire); err != nil {
				return err
			}
		}
	}
}

// Unmarshal decodes b into m.
func (m *EchoResponse) Unmarshal(b []byte) error {
	d := decoder{b: b}
	for {
		field, wire, ok, err := d.next()
		if err != nil || !ok {
			return err
		}
		switch field {
		case 1:
			if err := expect(field, wire, wireBytes); err != nil {
				return err
			}
			p, err := d.bytes()
			if err != nil {
				return err
			}
			m.Payload = append([]byte(nil), p...)
		case 2:
			if err := expect(field, wire, wireBytes); err != nil {
				return err
			}
			p, err := d.bytes()
			if err != nil {
				return err
			}
			m.Metadata = append(m.Metadata, string(p))
		case 3:
			if err := expect(field, wire, wireVarint); err != nil {
				return err
			}
			v, err := d.varint()
			if err != nil {
				return err
			}
			m.TimeoutNano = int64(v)
		default:
			if err := d.skip(wire); err != nil {
				return err
			}
		}
	}
}
