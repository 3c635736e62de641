using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Busbar.Hosting;

/// <summary>
/// Reads <see cref="EventBusOptions"/> from a configuration section, by hand: no reflection (trimming
/// and AOT safe), and an unreadable value fails with a message naming its configuration key.
/// Keys not present keep the value they had.
/// </summary>
internal static class EventBusOptionsBinder
{
    public static EventBusOptions Bind(IConfigurationSection section, EventBusOptions options, string optionsName)
    {
        var failures = new List<string>();
        options = options with
        {
            Name = section[nameof(EventBusOptions.Name)] ?? options.Name,
            Capacity = Int(section, nameof(EventBusOptions.Capacity), options.Capacity, failures),
            FullMode = Enum(section, nameof(EventBusOptions.FullMode), options.FullMode, failures),
            MaxConcurrentEvents = Int(section, nameof(EventBusOptions.MaxConcurrentEvents), options.MaxConcurrentEvents, failures),
            HandlerConcurrency = Enum(section, nameof(EventBusOptions.HandlerConcurrency), options.HandlerConcurrency, failures),
            Completion = Enum(section, nameof(EventBusOptions.Completion), options.Completion, failures),
            HandlerTimeout = Time(section, nameof(EventBusOptions.HandlerTimeout), options.HandlerTimeout, failures),
            SlowHandlerThreshold = Time(section, nameof(EventBusOptions.SlowHandlerThreshold), options.SlowHandlerThreshold, failures),
            HistoryCapacity = Int(section, nameof(EventBusOptions.HistoryCapacity), options.HistoryCapacity, failures),
            DeadLetterCapacity = Int(section, nameof(EventBusOptions.DeadLetterCapacity), options.DeadLetterCapacity, failures),
            DrainTimeout = Time(section, nameof(EventBusOptions.DrainTimeout), options.DrainTimeout, failures) ?? options.DrainTimeout,
            CancellationGrace = Time(section, nameof(EventBusOptions.CancellationGrace), options.CancellationGrace, failures) ?? options.CancellationGrace,
            DeadLetterInlineFailures = Bool(section, nameof(EventBusOptions.DeadLetterInlineFailures), options.DeadLetterInlineFailures, failures),
            FlowExecutionContext = Bool(section, nameof(EventBusOptions.FlowExecutionContext), options.FlowExecutionContext, failures),
        };
        if (failures.Count > 0)
            throw new OptionsValidationException(optionsName, typeof(EventBusOptions), failures);
        return options;
    }

    private static int Int(IConfigurationSection section, string key, int current, List<string> failures)
    {
        if (section[key] is not { } text)
            return current;
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
            return value;
        failures.Add($"Configuration value '{section.Path}:{key}' = '{text}' is not an integer (EventBusOptions.{key}).");
        return current;
    }

    private static bool Bool(IConfigurationSection section, string key, bool current, List<string> failures)
    {
        if (section[key] is not { } text)
            return current;
        if (bool.TryParse(text, out var value))
            return value;
        failures.Add($"Configuration value '{section.Path}:{key}' = '{text}' is not true or false (EventBusOptions.{key}).");
        return current;
    }

    private static TEnum Enum<TEnum>(IConfigurationSection section, string key, TEnum current, List<string> failures)
        where TEnum : struct, Enum
    {
        if (section[key] is not { } text)
            return current;
        if (System.Enum.TryParse<TEnum>(text, ignoreCase: true, out var value) && System.Enum.IsDefined(value))
            return value;
        failures.Add($"Configuration value '{section.Path}:{key}' = '{text}' is not one of {string.Join(", ", System.Enum.GetNames<TEnum>())} (EventBusOptions.{key}).");
        return current;
    }

    private static TimeSpan? Time(IConfigurationSection section, string key, TimeSpan? current, List<string> failures)
    {
        if (section[key] is not { } text)
            return current;
        if (text.Length == 0)
            return null;
        if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var value))
            return value;
        failures.Add($"Configuration value '{section.Path}:{key}' = '{text}' is not a time span such as 00:00:30 (EventBusOptions.{key}).");
        return current;
    }
}
