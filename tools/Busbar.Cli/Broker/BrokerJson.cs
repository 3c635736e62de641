using System.Text;
using System.Text.Json;

namespace Busbar.Cli.Broker;

/// <summary>Writes the broker commands' JSON: compact for one record per line (<c>tail</c>), indented for one document (<c>dead-letters</c>).</summary>
internal static class BrokerJson
{
    private static readonly JsonWriterOptions s_line = new();
    private static readonly JsonWriterOptions s_document = new() { Indented = true };

    public static string Line(Action<Utf8JsonWriter> write) => Write(write, s_line);

    public static string Document(Action<Utf8JsonWriter> write) => Write(write, s_document);

    private static string Write(Action<Utf8JsonWriter> write, JsonWriterOptions options)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, options))
            write(writer);
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
