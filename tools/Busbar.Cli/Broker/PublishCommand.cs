using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.Json;
using Busbar.Routing;
using Busbar.Transport;

namespace Busbar.Cli.Broker;

/// <summary>
/// <c>busbar publish &lt;url&gt; &lt;name&gt; &lt;json&gt;</c>: publishes one event in the bus's envelope (a new UUIDv7 id,
/// the time, optional correlation and causation ids, priority, ordering key and deadline) and prints its id once the broker
/// accepted it.
/// </summary>
internal static class PublishCommand
{
    public static Command Create(CliConsole io)
    {
        var url = BrokerUrl.Argument();
        var name = new Argument<string>("name") { Description = "The event name, e.g. orders.placed (dotted segments of letters, digits, '_' and '-').", CustomParser = Name };
        var body = new Argument<JsonElement>("json") { Description = "The event body as JSON, e.g. '{\"orderId\":42}'.", CustomParser = Json };
        var correlation = new Option<Guid?>("--correlation-id") { Description = "The conversation the event belongs to.", HelpName = "guid", CustomParser = OptionValues.GuidValue };
        var causation = new Option<Guid?>("--causation-id") { Description = "The event that caused this one.", HelpName = "guid", CustomParser = OptionValues.GuidValue };
        var priority = new Option<int?>("--priority") { Description = "The event's priority, as PublishOptions.Priority.", HelpName = "n", CustomParser = OptionValues.Integer };
        var key = new Option<string?>("--ordering-key") { Description = "The event's ordering key: a consuming bus runs a key's events one at a time.", HelpName = "key", CustomParser = OptionValues.Text };
        var deadline = new Option<DateTimeOffset?>("--deadline") { Description = "When handling must be over (ISO-8601, UTC without an offset): a consumer starts no handler after it.", HelpName = "time", CustomParser = OptionValues.Timestamp };
        var command = new Command("publish", "Publish one event through the bus's envelope and print its id once the broker accepted it.")
        {
            url, name, body, correlation, causation, priority, key, deadline,
        };
        command.SetAction((result, cancellationToken) => RunAsync(
            io,
            result.GetRequiredValue(url),
            new EventEnvelope
            {
                EventId = Guid.CreateVersion7(),
                Name = result.GetRequiredValue(name),
                CreatedAt = DateTimeOffset.UtcNow,
                CorrelationId = result.GetValue(correlation),
                CausationId = result.GetValue(causation),
                Priority = result.GetValue(priority) ?? 0,
                OrderingKey = result.GetValue(key),
                Deadline = result.GetValue(deadline),
            },
            result.GetRequiredValue(body),
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(CliConsole io, BrokerUrl url, EventEnvelope envelope, JsonElement body, CancellationToken cancellationToken)
    {
        TransportMessage message;
        try
        {
            message = EnvelopeCodec.EncodeJson(envelope, body, new EnvelopeCodecOptions().MaxEnvelopeBytes);
        }
        catch (ArgumentException ex)
        {
            throw new UserErrorException(ex.Message, ex);
        }

        return await url.RunAsync(
            async transport =>
            {
                await transport.PublishAsync([message], cancellationToken);
                io.Out.WriteLine(envelope.EventId.ToString());
                return ExitCodes.Success;
            },
            cancellationToken);
    }

    private static string Name(ArgumentResult result)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
        if (EventNaming.Validate(text) is { } error)
            result.AddError($"<name> '{text}' is not a valid event name: {error}");
        return text;
    }

    private static JsonElement Json(ArgumentResult result)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
        try
        {
            using var document = JsonDocument.Parse(text);
            return document.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            result.AddError($"<json> is not valid JSON (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine + 1}): {Short(text)}");
            return default;
        }
    }

    private static string Short(string text) => text.Length <= 60 ? text : text[..57] + "...";
}
