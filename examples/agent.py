"""A LangChain agent that calls a tool and answers."""

from langchain.agents import create_agent

from langchain_nebula import ChatNebula


def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"Sunny and 21 C in {city}."


agent = create_agent(ChatNebula(temperature=0), tools=[get_weather])
# A model that keeps calling tools would otherwise loop up to LangGraph's default of
# about 10 000 steps; a small limit ends such a run with GraphRecursionError.
result = agent.invoke(
    {"messages": [{"role": "user", "content": "What's the weather in Montreal?"}]},
    {"recursion_limit": 8},
)
for message in result["messages"]:
    print(f"{message.type:>6}: {message.content or message.tool_calls}")
