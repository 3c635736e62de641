using System.CommandLine;
using System.Globalization;
using Busbar.Transport;

namespace Busbar.Cli.Broker;

/// <summary><c>busbar dead-letters &lt;url&gt; [--json] [--max N]</c>: the broker's dead letters, oldest first, with the reason each failed.</summary>
internal static class DeadLettersCommand
{
    public const int DefaultMax = 1000;

    public static Command Create(CliConsole io)
    {
        var url = BrokerUrl.Argument();
        var json = new Option<bool>("--json") { Description = "One JSON document instead of text, for scripts." };
        var max = new Option<int?>("--max") { Description = $"Show at most this many, oldest first (default {DefaultMax}).", HelpName = "n", CustomParser = r => OptionValues.Positive<int>(r) };
        var command = new Command("dead-letters", "List a Redis or NATS bus's dead letters, oldest first, with their reasons.") { url, json, max };
        command.SetAction(async (result, cancellationToken) =>
        {
            var broker = result.GetRequiredValue(url);
            return await broker.RunAsync(
                async transport =>
                {
                    var letters = await transport.ReadDeadLettersAsync(result.GetValue(max) ?? DefaultMax, cancellationToken);
                    if (result.GetValue(json))
                        io.Out.WriteLine(Json(broker, letters));
                    else
                        Render(io.Out, broker, letters);
                    return ExitCodes.Success;
                },
                cancellationToken);
        });
        return command;
    }

    private static void Render(TextWriter output, BrokerUrl url, IReadOnlyList<TransportDeadLetter> letters)
    {
        output.WriteLine(Invariant($"{letters.Count} dead letters on {url.Display}"));
        if (letters.Count == 0)
            return;
        foreach (var letter in letters)
        {
            var shown = BrokerEvent.Read(letter.Name, letter.Envelope);
            output.WriteLine();
            output.WriteLine(Invariant($"{letter.Id}  group {letter.Group}, {letter.DeliveryCount} deliveries, dead-lettered {BrokerEvent.Time(letter.FailedAt)}"));
            output.WriteLine(Invariant($"  event   {letter.Name} {(shown.Metadata is { } m ? m.EventId.ToString() : "(undecodable)")}, message {letter.DeliveryId}, {letter.Envelope.Length} bytes"));
            output.WriteLine(Invariant($"  reason  {letter.Reason}"));
        }

        output.WriteLine();
        output.WriteLine($"re-drive with 'busbar redrive {url.Display} --id <dead letter id>' or '--all'");
    }

    private static string Json(BrokerUrl url, IReadOnlyList<TransportDeadLetter> letters) => BrokerJson.Document(writer =>
    {
        writer.WriteStartObject();
        writer.WriteString("broker", url.Display);
        writer.WriteStartArray("deadLetters");
        foreach (var letter in letters)
        {
            writer.WriteStartObject();
            writer.WriteString("id", letter.Id);
            writer.WriteString("group", letter.Group);
            writer.WriteString("deliveryId", letter.DeliveryId);
            writer.WriteNumber("deliveryCount", letter.DeliveryCount);
            writer.WriteString("reason", letter.Reason);
            writer.WriteString("failedAt", letter.FailedAt.ToUniversalTime());
            writer.WritePropertyName("event");
            writer.WriteStartObject();
            BrokerEvent.Read(letter.Name, letter.Envelope).WriteJson(writer, payload: false);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    });

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}
