using System.CommandLine;
using System.CommandLine.Help;
using Spectre.Console.Testing;

namespace Busbar.Cli.Tests;

/// <summary>Every option of every command, fed malformed values: one line with the reason, one usage line, exit 2, never a stack trace.</summary>
public sealed class MalformedOptionTests
{
    private const string Flag = "(flag)";

    /// <summary>Malformed values per command and option. A new option must be added here (see the coverage test).</summary>
    private static readonly Dictionary<string, Dictionary<string, string[]>> s_badValues = new()
    {
        ["demo"] = new()
        {
            ["--duration"] = ["soon", "0", "-1", "0.1", "1e400", "NaN", "", "10h", "100000"],
            ["--events"] = ["abc", "0", "-5", "1.5", "99999999999999999999", ""],
            ["--rate"] = ["abc", "0", "-1", "1e3", "2147483648", ""],
            ["--capacity"] = ["zero", "0", "2147483648", " "],
            ["--full-mode"] = ["sideways", "", "1", "Wait!"],
            ["--concurrency"] = ["x", "0", "-3", "2147483648"],
            ["--wal"] = ["", "   "],
            ["--flush"] = ["sometimes", "", "0"],
            ["--no-live"] = [Flag],
            ["--transport"] = ["http://127.0.0.1:6379", "", "127.0.0.1:6379", "redis://127.0.0.1:6379/0"],
            ["--workers"] = ["x", "0", "-1", "17", "2.5", ""],
            ["--kill-worker-after"] = ["soon", "0", "50ms", "-1s", "NaN", ""],
            ["--json"] = [Flag],
        },
        ["demo-worker"] = new()
        {
            ["--run"] = ["xyz", "", "0123ABCD", "0123abcd0"],
            ["--worker"] = ["0", "x", ""],
            ["--concurrency"] = ["0", "-1", "many"],
        },
        ["wal inspect"] = new() { ["--json"] = [Flag] },
        ["wal dead-letters"] = new()
        {
            ["--json"] = [Flag],
            ["--subscription"] = ["", " "],
            ["--event"] = ["", "orders.**.x", "a b", "orders..placed", "orders.pl*"],
            ["--exception"] = ["", "  "],
            ["--since"] = ["yesterday", "", "2026-13-01", "30/11/2026", "2026-11-30 12:00", "1764500000"],
            ["--until"] = ["tomorrow", "", "12:00", "2026-11-31"],
        },
        ["wal redrive"] = new()
        {
            ["--id"] = ["nope", "", "1234", "not-a-guid-at-all-0000000000000000000"],
            ["--all"] = [Flag],
            ["--subscription"] = ["", " "],
            ["--event"] = ["", "orders.**.x", "a b", "orders..placed", "orders.pl*"],
            ["--exception"] = ["", "  "],
            ["--since"] = ["yesterday", "", "2026-13-01", "30/11/2026", "2026-11-30 12:00", "1764500000"],
            ["--until"] = ["tomorrow", "", "12:00", "2026-11-31"],
        },
        ["tail"] = new()
        {
            ["--payload"] = [Flag],
            ["--json"] = [Flag],
            ["--count"] = ["many", "0", "-1", "2147483648", ""],
        },
        ["publish"] = new()
        {
            ["--correlation-id"] = ["nope", "", "1234"],
            ["--causation-id"] = ["nope", " "],
            ["--priority"] = ["high", "", "1.5", "2147483648", "-2147483649"],
            ["--ordering-key"] = ["", "   "],
            ["--deadline"] = ["soon", "", "2026-13-01", "30/11/2026 12:00"],
        },
        ["dead-letters"] = new()
        {
            ["--json"] = [Flag],
            ["--max"] = ["all", "0", "-2", ""],
        },
        ["redrive"] = new()
        {
            ["--id"] = ["", "two words", " "],
            ["--all"] = [Flag],
        },
    };

    /// <summary>The arguments a command needs before its options: a log directory, a broker address (port 1: nothing is ever connected).</summary>
    private static string[] Arguments(string command, string option) => command switch
    {
        _ when command.StartsWith("wal", StringComparison.Ordinal) => [Path.GetTempPath()],
        "publish" => ["redis://127.0.0.1:1", "orders.placed", "{}"],
        "tail" => ["redis://127.0.0.1:1", "*"],
        "dead-letters" or "redrive" => ["redis://127.0.0.1:1"],
        "demo-worker" when option != "--run" => ["redis://127.0.0.1:1", "--run", "0123abcd"],
        "demo-worker" => ["redis://127.0.0.1:1"],
        _ => [],
    };

    public static TheoryData<string, string, string> BadValues()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var (command, options) in s_badValues)
        {
            foreach (var (option, values) in options)
            {
                foreach (var value in values)
                    data.Add(command, option, value);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(BadValues))]
    public async Task Run_MalformedOptionValue_OneLineReasonUsageAndExit2(string command, string option, string value)
    {
        var args = new List<string>(command.Split(' '));
        args.AddRange(Arguments(command, option));
        if (value == Flag)
        {
            args.Add(option + "=perhaps");
        }
        else
        {
            args.Add(option);
            args.Add(value);
        }

        var run = await CliRun.RunAsync([.. args]);

        Assert.Equal(ExitCodes.Usage, run.ExitCode);
        var lines = run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 2, "expected a reason and a usage line, got:\n" + run.Error);
        Assert.StartsWith("busbar: ", lines[0]);
        Assert.Contains(value == Flag ? "'perhaps'" : option, lines[0]);
        Assert.StartsWith("usage: busbar " + command, lines[1]);
        Assert.DoesNotContain("Exception", run.Error);
        Assert.DoesNotContain("System.", run.Error);
        Assert.Equal("", run.Output);
    }

    [Theory]
    [InlineData("wal", "redrive", "DIR", "--all", "--id", "x")]
    [InlineData("wal", "redrive", "DIR", "--id", "nope", "--id", "also-nope")]
    [InlineData("wal", "redrive", "DIR", "--all", "--subscription", "billing")]
    [InlineData("wal", "redrive", "DIR", "--id", "00000000-0000-0000-0000-000000000001", "--event", "orders.*")]
    [InlineData("wal", "redrive", "DIR", "--since", "2026-11-30T12:00Z", "--until", "2026-11-30")]
    [InlineData("wal", "dead-letters", "DIR", "--since", "2026-11-30T12:00Z", "--until", "2026-11-30T11:59:59Z")]
    [InlineData("wal", "inspect", "")]
    [InlineData("wal", "dead-letters", " ")]
    [InlineData("wal", "redrive", "", "--all")]
    [InlineData("redrive", "redis://127.0.0.1:1", "--all", "--id", "1-0")]
    [InlineData("redrive", "redis://127.0.0.1:1")]
    [InlineData("tail", "redis://127.0.0.1:1", "orders.**.placed")]
    [InlineData("publish", "redis://127.0.0.1:1", "orders.placed")]
    [InlineData("publish", "nats://127.0.0.1:1", "orders.placed", "{} {}")]
    [InlineData("demo", "--workers", "2")]
    [InlineData("demo", "--kill-worker-after", "3s")]
    [InlineData("demo", "--json")]
    [InlineData("demo", "--transport", "redis://127.0.0.1:1", "--workers", "1", "--kill-worker-after", "1s")]
    [InlineData("demo", "--transport", "nats://127.0.0.1:1", "--wal", "DIR")]
    [InlineData("demo", "--transport", "redis://127.0.0.1:1", "--capacity", "10")]
    [InlineData("demo-worker", "redis://127.0.0.1:1")]
    public async Task Run_MalformedCombination_OneLineReasonUsageAndExit2(params string[] args)
    {
        var run = await CliRun.RunAsync([.. args.Select(static a => a == "DIR" ? Path.GetTempPath() : a)]);

        Assert.Equal(ExitCodes.Usage, run.ExitCode);
        var lines = run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("busbar: ", lines[0]);
        Assert.DoesNotContain("Exception", run.Error);
    }

    [Fact]
    public void BadValues_CoverEveryOptionOfEveryCommand()
    {
        using var interrupt = new CliInterrupt();
        var root = BusbarCli.CreateRootCommand(new CliConsole(new TestConsole(), new StringWriter()), interrupt);

        var missing = new List<string>();
        foreach (var (path, command) in Leaves(root, ""))
        {
            foreach (var option in command.Options)
            {
                if (option is HelpOption or VersionOption)
                    continue;
                if (!s_badValues.TryGetValue(path, out var options) || !options.ContainsKey(option.Name))
                    missing.Add($"{path} {option.Name}");
            }
        }

        Assert.True(missing.Count == 0, "options without malformed values in the test: " + string.Join(", ", missing));
    }

    private static IEnumerable<(string Path, Command Command)> Leaves(Command command, string path)
    {
        if (command.Subcommands.Count == 0)
        {
            yield return (path, command);
            yield break;
        }

        foreach (var sub in command.Subcommands)
        {
            foreach (var leaf in Leaves(sub, path.Length == 0 ? sub.Name : path + " " + sub.Name))
                yield return leaf;
        }
    }
}
