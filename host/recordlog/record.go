package recordlog

import (
	"github.com/bgjob/bgjob/sdk"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Decode fills r from b. Text a job printed, the bulk of any large output, is
// decoded by hand with Chunk aliasing b, which saves a copy of every byte;
// any other record goes through proto.Unmarshal.
func Decode(b []byte, r *sdk.Record) error {
	r.Reset()
	for rest := b; len(rest) > 0; {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 {
			return protowire.ParseError(n)
		}
		rest = rest[n:]
		if typ == protowire.BytesType && num == 4 {
			v, n := protowire.ConsumeBytes(rest)
			if n < 0 {
				return protowire.ParseError(n)
			}
			r.Chunk, rest = v, rest[n:]
			continue
		}
		if typ != protowire.VarintType || num > 5 || num == 4 {
			r.Reset()
			return proto.Unmarshal(b, r)
		}
		v, n := protowire.ConsumeVarint(rest)
		if n < 0 {
			return protowire.ParseError(n)
		}
		rest = rest[n:]
		switch num {
		case 1:
			r.Seq = v
		case 2:
			r.TimeUnixNano = int64(v)
		case 3:
			r.Stream = sdk.Stream(v)
		case 5:
			r.Count = uint32(v)
		}
	}
	return nil
}

// AppendFramed appends r to b with its length prefix, as batches and logs
// hold records.
func AppendFramed(b []byte, r *sdk.Record) ([]byte, error) {
	b = protowire.AppendVarint(b, uint64(proto.Size(r)))
	return proto.MarshalOptions{}.MarshalAppend(b, r)
}
