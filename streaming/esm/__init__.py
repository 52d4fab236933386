"""A local, faithful Kinesis event source mapping (``streaming run``).

On AWS the event source mapping polls the shards and invokes the function;
locally nothing does, and LocalStack's and moto's Lambda need Docker. This
package polls any Kinesis endpoint (moto, LocalStack, AWS) and invokes a
handler in-process with Lambda's event shape and Lambda's retry semantics.
"""
