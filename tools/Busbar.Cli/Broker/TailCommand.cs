using System.CommandLine;
using System.Globalization;
using Busbar.Transport;

namespace Busbar.Cli.Broker;

/// <summary>
/// <c>busbar tail &lt;url&gt; [pattern] [--payload] [--json] [--count N]</c>: prints events live as they are published,
/// outside every group (<see cref="IEventTransport.TailAsync"/>), until Ctrl+C or <c>--count</c>.
/// </summary>
internal static class TailCommand
{
    public static Command Create(CliConsole io)
    {
        var url = BrokerUrl.Argument();
        var pattern = new Argument<string>("pattern")
        {
            Description = "Which event names: dotted segments, '*' for one segment, a trailing '**' for one or more; '*' alone (the default) for every event.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        pattern.Validators.Add(result =>
        {
            var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "*";
            try
            {
                EventNamePattern.Parse(text);
            }
            catch (ArgumentException ex)
            {
                result.AddError($"<pattern> '{text}' is not an event-name pattern: {ex.Message}");
            }
        });
        var payload = new Option<bool>("--payload") { Description = "Print each event's body too (it may hold personal data; left out by default)." };
        var json = new Option<bool>("--json") { Description = "One JSON object per line instead of text, for scripts." };
        var count = new Option<int?>("--count") { Description = "Stop after this many events.", HelpName = "n", CustomParser = r => OptionValues.Positive<int>(r) };
        var command = new Command(
            "tail",
            "Print events live as they are published: name, ids, size and time. Reads outside every group (Redis: XREAD; NATS: a core subscription), so consumers are not disturbed. Ctrl+C stops.")
        {
            url, pattern, payload, json, count,
        };
        command.SetAction((result, cancellationToken) => RunAsync(
            io,
            result.GetRequiredValue(url),
            result.GetValue(pattern) ?? "*",
            result.GetValue(payload),
            result.GetValue(json),
            result.GetValue(count),
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(CliConsole io, BrokerUrl url, string pattern, bool payload, bool json, int? count, CancellationToken cancellationToken)
    {
        try
        {
            return await url.RunAsync(transport => TailAsync(io, url, transport, pattern, payload, json, count, cancellationToken), cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl+C while connecting: nothing was tailed.
            io.Error.WriteLine("busbar: tail stopped after 0 events.");
            return ExitCodes.Success;
        }
    }

    private static async Task<int> TailAsync(CliConsole io, BrokerUrl url, IEventTransport transport, string pattern, bool payload, bool json, int? count, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var events = transport.TailAsync([pattern], stop.Token);
        io.Error.WriteLine($"busbar: tailing '{pattern}' on {url.Display}{(count is { } n ? string.Create(CultureInfo.InvariantCulture, $" for {n} events") : "")}; Ctrl+C stops.");
        var seen = 0;
        try
        {
            await foreach (var message in events)
            {
                var shown = BrokerEvent.Read(message.Name, message.Envelope);
                io.Out.WriteLine(json ? BrokerJson.Line(w =>
                {
                    w.WriteStartObject();
                    shown.WriteJson(w, payload);
                    w.WriteEndObject();
                }) : shown.ToLine(payload));
                io.Out.Flush();
                if (++seen == count)
                    break;
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl+C: the graceful end of a tail.
        }

        // Ends the tail's registration with the transport (an early break does not cancel it by itself).
        await stop.CancelAsync();
        if (cancellationToken.IsCancellationRequested)
            io.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"busbar: tail stopped after {seen} events."));
        return ExitCodes.Success;
    }
}
